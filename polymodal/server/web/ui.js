// Small DOM helpers the tabs share. Text from the server or the user is always set as text
// (textContent, attributes), never parsed as HTML.

let serial = 0;

/** A unique id for a label's `for`. */
export function uid(prefix) {
  serial += 1;
  return `${prefix}-${serial}`;
}

/** `h("p", {className: "note"}, "text", child)`: an element with properties and children. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key in element && !key.startsWith("aria") && key !== "role") element[key] = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A labelled field: `{wrapper, input}`; `input` is made by `make(id)`. */
export function field(label, make, hint = null) {
  const id = uid("field");
  const input = make(id);
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  const wrapper = h(
    "div",
    { className: "field" },
    h("label", { htmlFor: id }, label),
    input,
    hint ? h("small", { id: hintId, className: "hint" }, hint) : null,
  );
  return { wrapper, input };
}

/** An empty alert box for a task's error sentence. */
export function errorBox() {
  return h("p", { className: "error", role: "alert", hidden: true });
}

/**
 * A drop area around a labelled file input: choosing files or dropping them calls
 * `onFiles(files)`. `accept` narrows the picker (the server still judges the bytes).
 */
export function dropZone({ label, accept, multiple = false, onFiles }) {
  const id = uid("files");
  const input = h("input", { type: "file", id, accept, multiple, className: "file-input" });
  const zone = h(
    "div",
    { className: "drop" },
    h("label", { htmlFor: id }, label),
    input,
    h("span", { className: "hint" }, multiple ? "or drop files here" : "or drop a file here"),
  );
  input.addEventListener("change", () => {
    if (input.files.length) onFiles([...input.files]);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...event.dataTransfer.files];
    if (!files.length) return;
    try {
      const transfer = new DataTransfer();
      for (const file of multiple ? files : files.slice(0, 1)) transfer.items.add(file);
      input.files = transfer.files;
    } catch {
      /* a browser without DataTransfer(): the files still go to onFiles */
    }
    onFiles(multiple ? files : files.slice(0, 1));
  });
  return { zone, input };
}

/**
 * Run `task()` with `button` disabled and `status` saying it works (a spinner and the seconds
 * so far), so a slow model shows progress rather than a frozen page.
 */
export async function working(button, status, text, task) {
  const started = performance.now();
  const spin = h("span", { className: "spinner", "aria-hidden": "true" });
  const words = h("span", {}, text);
  status.replaceChildren(spin, words);
  status.hidden = false;
  const tick = setInterval(() => {
    const seconds = Math.round((performance.now() - started) / 1000);
    words.textContent = `${text} ${seconds} s`;
  }, 1000);
  if (button) button.disabled = true;
  status.closest("section")?.setAttribute("aria-busy", "true");
  try {
    return await task();
  } finally {
    clearInterval(tick);
    if (button) button.disabled = false;
    status.closest("section")?.removeAttribute("aria-busy");
    status.hidden = true;
    status.replaceChildren();
  }
}

/** A status line (polite live region) a tab shows while it works. */
export function statusLine() {
  return h("p", { className: "status", role: "status", hidden: true });
}

/** 0.873 -> "87%". */
export function percent(value) {
  return `${Math.round(value * 100)}%`;
}

/** The last part of a path, as a caption (servers' paths are not the user's business). */
export function basename(path) {
  return String(path).split(/[\\/]/).pop();
}

/** Calls `fn` once `ms` have passed without another call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Offer `text` (or a Blob) as a download named `name`. */
export function download(name, content, type = "text/plain") {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
