// A transcript's downloads, built in the page from the verbose_json segments the server sent
// (with the speakers the diarizer found), so one transcription gives every format: asking the
// server for srt/vtt would decode the audio again. The CLI's own renderers may wrap lines
// differently; the timings and texts are the same.

function clock(seconds, separator) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (value, width = 2) => String(value).padStart(width, "0");
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

const spoken = (segments) => segments.filter((segment) => segment.text.trim());

/** Plain text; with speakers, one paragraph per change of speaker, "A: ..." */
export function toText(transcript) {
  const segments = spoken(transcript.segments);
  if (!segments.some((segment) => segment.speaker)) return `${transcript.text.trim()}\n`;
  const lines = [];
  for (const segment of segments) {
    const last = lines[lines.length - 1];
    if (last && last.speaker === segment.speaker) last.text += ` ${segment.text.trim()}`;
    else lines.push({ speaker: segment.speaker, text: segment.text.trim() });
  }
  return `${lines.map((line) => `${line.speaker}: ${line.text}`).join("\n\n")}\n`;
}

export function toSrt(transcript) {
  return spoken(transcript.segments)
    .map((segment, index) => {
      const who = segment.speaker ? `${segment.speaker}: ` : "";
      const when = `${clock(segment.start, ",")} --> ${clock(segment.end, ",")}`;
      return `${index + 1}\n${when}\n${who}${segment.text.trim()}\n`;
    })
    .join("\n");
}

export function toVtt(transcript) {
  const cues = spoken(transcript.segments).map((segment) => {
    const who = segment.speaker ? `<v ${segment.speaker}>` : "";
    const when = `${clock(segment.start, ".")} --> ${clock(segment.end, ".")}`;
    return `${when}\n${who}${segment.text.trim()}\n`;
  });
  return `WEBVTT\n\n${cues.join("\n")}`;
}

export function toJson(transcript) {
  return `${JSON.stringify(transcript, null, 2)}\n`;
}

export const FORMATS = {
  txt: { label: "TXT", type: "text/plain", render: toText },
  srt: { label: "SRT", type: "application/x-subrip", render: toSrt },
  vtt: { label: "VTT", type: "text/vtt", render: toVtt },
  json: { label: "JSON", type: "application/json", render: toJson },
};

/** "75.2" -> "1:15.2": times beside the transcript's lines. */
export function shortClock(seconds) {
  const whole = Math.max(0, seconds);
  const m = Math.floor(whole / 60);
  const s = (whole - m * 60).toFixed(1).padStart(4, "0");
  return `${m}:${s}`;
}
