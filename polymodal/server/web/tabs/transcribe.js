// Transcribe: an uploaded recording -> a timed transcript with speakers, a speaker timeline,
// suspect segments marked and the language of each segment; downloads in four formats.
//
// One transcription (POST /v1/audio/transcriptions, response_format=verbose_json: segments with
// times, our suspect_reasons and language) and, when speakers are asked for, the diarizer's
// turns beside it (POST /v1/polymodal/diarize, in parallel); each segment takes the speaker
// whose turns overlap it most. verbose_json carries no speakers and diarized_json no
// languages or suspect marks, hence the two calls; the diarizer costs a fraction of decoding.

import { clearError, postForm, showError } from "../api.js";
import { FORMATS, shortClock } from "../subtitles.js";
import { download, dropZone, errorBox, field, h, statusLine, working } from "../ui.js";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const SVG = "http://www.w3.org/2000/svg";

function letters(index) {
  let name = "";
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  }
  return name;
}

/** Diarizer labels -> what the page shows: an enrolled name, else A, B, ... by first turn. */
function speakerNames(diarization) {
  const names = new Map();
  for (const label of diarization.labels) {
    names.set(label, diarization.names?.[label] || letters(names.size));
  }
  return names;
}

function overlap(a, b) {
  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
}

/** The transcript's segments, each with the speaker whose turns cover most of it. */
export function labelSegments(segments, diarization) {
  if (!diarization) return segments;
  const names = speakerNames(diarization);
  return segments.map((segment) => {
    const heard = new Map();
    for (const turn of diarization.turns) {
      const shared = overlap(segment, turn);
      if (shared > 0) heard.set(turn.speaker, (heard.get(turn.speaker) || 0) + shared);
    }
    const best = [...heard.entries()].sort((a, b) => b[1] - a[1])[0];
    return { ...segment, speaker: best ? names.get(best[0]) : null };
  });
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

function render(result, transcript, name, note) {
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
    note ? h("p", { className: "note" }, note) : null,
    transcript.segments.length ? null : h("p", { className: "empty" }, "No speech was heard in this recording."),
    colours.size ? timeline(transcript, turns, colours) : null,
    h("ol", { className: "segments" }, transcript.segments.map((s) => segmentItem(s, colours))),
    downloads(transcript, name),
  ];
  result.replaceChildren(...parts.filter(Boolean));
}

async function transcribe(file, options) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("model", "whisper-1");
  form.append("response_format", "verbose_json");
  form.append("timestamp_granularities[]", "segment");
  if (options.language) form.append("language", options.language);
  return postForm("/v1/audio/transcriptions", form);
}

async function diarize(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return postForm("/v1/polymodal/diarize", form);
}

/** The transcript with speakers; a diarizer failure costs the speakers only, with a note. */
async function run(file, options) {
  const asked = options.speakers ? diarize(file).then((d) => ({ d }), (e) => ({ e })) : null;
  const verbose = await transcribe(file, options);
  const speakers = asked ? await asked : null;
  const diarization = speakers?.d || null;
  const segments = labelSegments(verbose.segments || [], diarization);
  const note = speakers?.e && segments.length ? `Speakers not labelled: ${speakers.e.message}` : null;
  const names = diarization ? speakerNames(diarization) : null;
  const turns = diarization
    ? diarization.turns.map((t) => ({ start: t.start, end: t.end, speaker: names.get(t.speaker) }))
    : [];
  return { transcript: { ...verbose, segments, turns }, note };
}

export function mount(panel) {
  let chosen = null;
  const error = errorBox();
  const status = statusLine();
  const result = h("div", { className: "transcript", "aria-live": "polite" });
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
    result.replaceChildren();
    const options = { language: language.input.value.trim(), speakers: speakers.checked };
    try {
      const { transcript, note } = await working(button, status, `Transcribing ${chosen.name}…`, () =>
        run(chosen, options),
      );
      render(result, transcript, chosen.name, note);
    } catch (failure) {
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
