// Transcribe: an uploaded recording -> its text as it is decoded, then a timed transcript with
// speakers, a speaker timeline, suspect segments marked and the language of each segment;
// downloads in four formats.
//
// One streamed request (POST /v1/audio/transcriptions, stream=true): diarized_json when
// speakers are asked for, else verbose_json. Its server-sent events are OpenAI's, with our
// extensions beside OpenAI's fields: each transcript.text.delta's text is shown as it comes
// (a polite live region); diarized_json's transcript.text.segment events carry speaker,
// language and suspect_reasons; the transcript.text.done event carries the rest of the
// unstreamed body (verbose_json: task, language, duration, segments; diarized_json: task,
// duration). So one decoding gives the text early and everything the page draws at the end.

import { ApiError, clearError, request, showError } from "../api.js";
import { FORMATS, shortClock } from "../subtitles.js";
import { download, dropZone, errorBox, field, h, statusLine, working } from "../ui.js";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const SVG = "http://www.w3.org/2000/svg";

/**
 * The JSON objects of a server-sent event stream, as OpenAI sends them: data-only events,
 * one object each. `data: {"error": ...}` (a failure after the stream began) is thrown as
 * the server's sentence.
 */
export async function* streamedEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const parse = (block) => {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (!data) return null;
    const event = JSON.parse(data);
    if (event.error) throw new ApiError(event.error.message, response.status, event.error.code ?? null);
    return event;
  };
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (failure) {
      throw new ApiError(`The connection to the server was lost (${failure.message}).`, 0);
    }
    const { value, done } = chunk;
    if (done) break;
    const blocks = (buffer + value).split(/\r?\n\r?\n/);
    buffer = blocks.pop(); // an event not yet ended by its blank line
    for (const block of blocks) {
      const event = parse(block);
      if (event) yield event;
    }
  }
  const last = parse(buffer);
  if (last) yield last;
}

/** The language most of the segments are in (diarized_json names none for the whole). */
function commonest(segments) {
  const counts = new Map();
  for (const { language } of segments) if (language) counts.set(language, (counts.get(language) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

function svg(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

/** One bar per speaker: who spoke when, over the whole recording. */
function timeline(transcript, turns, colours) {
  const speakers = [...colours.keys()];
  const width = 1000;
  const row = 22;
  const left = 60;
  const duration = Math.max(transcript.duration || 0, ...turns.map((t) => t.end), 0.001);
  const picture = svg("svg", {
    class: "timeline",
    viewBox: `0 0 ${width} ${speakers.length * row + 18}`,
    role: "img",
    "aria-label": `Speaker timeline: ${speakers.length} speaker(s) over ${shortClock(duration)}`,
  });
  speakers.forEach((speaker, index) => {
    const y = index * row;
    const label = svg("text", { x: 0, y: y + 15 });
    label.textContent = speaker;
    picture.append(label, svg("rect", { x: left, y: y + 3, width: width - left, height: row - 6, fill: "#eef0f3" }));
    for (const turn of turns.filter((t) => t.speaker === speaker)) {
      const x = left + ((width - left) * turn.start) / duration;
      const w = Math.max(1.5, ((width - left) * (turn.end - turn.start)) / duration);
      const bar = svg("rect", { x, y: y + 3, width: w, height: row - 6, fill: colours.get(speaker), "data-speaker": speaker });
      const tip = svg("title");
      tip.textContent = `${speaker}: ${shortClock(turn.start)}–${shortClock(turn.end)}`;
      bar.append(tip);
      picture.append(bar);
    }
  });
  const end = svg("text", { x: width, y: speakers.length * row + 14, "text-anchor": "end" });
  end.textContent = shortClock(duration);
  const start = svg("text", { x: left, y: speakers.length * row + 14 });
  start.textContent = "0:00.0";
  picture.append(start, end);
  return picture;
}

function segmentItem(segment, colours) {
  const suspect = segment.suspect_reasons?.length > 0;
  const item = h(
    "li",
    { className: `segment${suspect ? " suspect" : ""}`, dataset: { speaker: segment.speaker || "" } },
    h("span", { className: "when" }, `${shortClock(segment.start)}–${shortClock(segment.end)}`),
    h(
      "span",
      { className: "words" },
      segment.speaker ? h("span", { className: "who" }, segment.speaker) : null,
      segment.speaker ? " " : null,
      segment.text.trim(),
      segment.language ? " " : null,
      segment.language ? h("span", { className: "lang", title: "language" }, segment.language) : null,
    ),
    suspect ? h("span", { className: "suspect-note" }, `⚠ Check this line: ${segment.suspect_reasons.join("; ")}`) : null,
  );
  if (segment.speaker) item.style.setProperty("--speaker", colours.get(segment.speaker));
  return item;
}

function downloads(transcript, name) {
  const stem = name.replace(/\.[^.]+$/, "") || "transcript";
  return h(
    "div",
    { className: "actions downloads" },
    h("span", {}, "Download:"),
    Object.entries(FORMATS).map(([suffix, format]) =>
      h(
        "button",
        {
          type: "button",
          className: "secondary",
          dataset: { format: suffix },
          onclick: () => download(`${stem}.${suffix}`, format.render(transcript), format.type),
        },
        format.label,
      ),
    ),
  );
}

function render(result, transcript, name) {
  const colours = new Map();
  for (const segment of transcript.segments) {
    if (segment.speaker && !colours.has(segment.speaker)) {
      colours.set(segment.speaker, COLOURS[colours.size % COLOURS.length]);
    }
  }
  const suspects = transcript.segments.filter((s) => s.suspect_reasons?.length).length;
  const summary = [
    `${transcript.language || "unknown language"}`,
    `${shortClock(transcript.duration || 0)} of audio`,
    `${transcript.segments.length} segment(s)`,
    colours.size ? `${colours.size} speaker(s)` : null,
    suspects ? `${suspects} to check` : null,
  ].filter(Boolean);
  const turns = transcript.turns?.length ? transcript.turns : transcript.segments.filter((s) => s.speaker);
  const parts = [
    h("p", { className: "summary" }, summary.join(" · ")),
    transcript.segments.length ? null : h("p", { className: "empty" }, "No speech was heard in this recording."),
    colours.size ? timeline(transcript, turns, colours) : null,
    h("ol", { className: "segments" }, transcript.segments.map((s) => segmentItem(s, colours))),
    downloads(transcript, name),
  ];
  result.replaceChildren(...parts.filter(Boolean));
}

/**
 * Transcribe `file` in one streamed request, calling `heard(delta)` with each piece of text
 * as it is decoded; the transcript (verbose_json's shape, with speakers when asked) at the end.
 */
async function transcribe(file, options, heard) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("model", "whisper-1");
  form.append("response_format", options.speakers ? "diarized_json" : "verbose_json");
  form.append("timestamp_granularities[]", "segment");
  form.append("stream", "true");
  if (options.language) form.append("language", options.language);
  const response = await request("/v1/audio/transcriptions", { method: "POST", body: form });
  const segments = [];
  for await (const event of streamedEvents(response)) {
    if (event.type === "transcript.text.delta") heard(event.delta);
    else if (event.type === "transcript.text.segment") segments.push(event);
    else if (event.type === "transcript.text.done") {
      const { type: _, ...body } = event;
      if (!options.speakers) return body;
      return { ...body, language: commonest(segments), segments };
    }
  }
  throw new ApiError("The transcription stopped before it finished; try again.");
}

export function mount(panel) {
  let chosen = null;
  const error = errorBox();
  const status = statusLine();
  const result = h("div", { className: "transcript" });
  const language = field(
    "Language",
    (id) => h("input", { id, type: "text", placeholder: "detect", size: 6, autocomplete: "off" }),
    "ISO code such as en or de; blank: detect it.",
  );
  const speakers = h("input", { type: "checkbox", id: "transcribe-speakers", checked: true });
  const button = h("button", { type: "button", className: "primary", disabled: true }, "Transcribe");

  async function start() {
    if (!chosen) return;
    clearError(error);
    const live = h("p", { className: "streamed", "aria-live": "polite" });
    result.replaceChildren(live);
    const options = { language: language.input.value.trim(), speakers: speakers.checked };
    try {
      const transcript = await working(button, status, `Transcribing ${chosen.name}…`, () =>
        transcribe(chosen, options, (delta) => live.append(delta)),
      );
      render(result, transcript, chosen.name);
    } catch (failure) {
      if (!live.textContent) live.remove(); // text already heard stays, above the error
      showError(error, failure);
    }
  }

  const drop = dropZone({
    label: "Audio or video file",
    accept: "audio/*,video/*",
    onFiles: (files) => {
      chosen = files[0];
      button.disabled = false;
      start();
    },
  });
  button.addEventListener("click", start);

  panel.append(
    h("h2", {}, "Transcribe a recording"),
    h(
      "div",
      { className: "card form" },
      h("div", { className: "wide" }, drop.zone),
      language.wrapper,
      h("div", { className: "field check-field" }, speakers, h("label", { htmlFor: "transcribe-speakers" }, "Label speakers")),
      h("div", { className: "actions" }, button),
    ),
    status,
    error,
    result,
  );
}
