// The generation parameters a PNG carries in its text chunks (the server writes A1111's
// "parameters" text and polymodal's own "polymodal" JSON), read in the page so the image
// shown and the parameters listed are the same file's.

function* chunks(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8; // the PNG signature
  while (at + 12 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    yield { type, data: bytes.subarray(at + 8, at + 8 + length) };
    if (type === "IEND") return;
    at += 12 + length;
  }
}

/** keyword -> text of the uncompressed tEXt (latin-1) and iTXt (UTF-8) chunks. */
export function pngText(bytes) {
  const texts = {};
  for (const { type, data } of chunks(bytes)) {
    const nul = data.indexOf(0);
    if (nul < 0) continue;
    const keyword = new TextDecoder("latin1").decode(data.subarray(0, nul));
    if (type === "tEXt") texts[keyword] = new TextDecoder("latin1").decode(data.subarray(nul + 1));
    if (type === "iTXt" && data[nul + 1] === 0) {
      // keyword, compression flag, method, language tag \0, translated keyword \0, text
      let rest = nul + 3;
      rest = data.indexOf(0, rest) + 1;
      rest = data.indexOf(0, rest) + 1;
      texts[keyword] = new TextDecoder("utf-8").decode(data.subarray(rest));
    }
  }
  return texts;
}

/** polymodal's parameters of a base64 PNG, or null when it carries none. */
export function pngParameters(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const texts = pngText(bytes);
  try {
    return texts.polymodal ? JSON.parse(texts.polymodal) : null;
  } catch {
    return null;
  }
}
