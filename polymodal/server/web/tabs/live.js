// Live: captions of the microphone while the words are spoken, over the server's realtime
// socket (/v1/realtime?intent=transcription, OpenAI's realtime transcription protocol).
//
// The microphone (getUserMedia) feeds an AudioWorklet (../pcm-worklet.js) that resamples to
// 24 kHz PCM16 and posts ~100 ms chunks; each goes out as input_audio_buffer.append. The server
// cuts items at pauses (server VAD) and answers with append-only deltas (shown as the current
// item's interim line) and one completed transcript per item (a finished line, with its
// speaker's letter when "Label speakers" asked for polymodal_speakers). Stop sends the last
// audio, commits an item still open, waits for its transcript and closes the socket.
// The API key travels as the subprotocol "openai-insecure-api-key.<key>": a browser cannot set
// headers on a WebSocket.

import { apiKey, showError } from "../api.js";
import { errorBox, h, statusLine } from "../ui.js";

const RATE = 24000;
const CHUNK_MS = 100;
const QUEUED_CHUNKS = 50; // audio held while the socket opens (5 s), then sent
const LAST_WORDS_MS = 15000; // how long Stop waits for the open item's transcript
const EVENT = "conversation.item.input_audio_transcription";
const STOP_COMMIT = "live_stop_commit"; // the commit Stop sends; its "nothing to commit" is moot

function stylesheet() {
  if (document.querySelector('link[data-live-css]')) return;
  const href = new URL("../live.css", import.meta.url).href;
  document.head.append(h("link", { rel: "stylesheet", href, dataset: { liveCss: "true" } }));
}

/** An ArrayBuffer as base64 (in slices: String.fromCharCode takes a bounded argument list). */
function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/v1/realtime?intent=transcription`;
}

/** Why the microphone is not ours, as a sentence. */
function micSentence(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError")
    return "The microphone was refused: allow it for this page in the browser and press Start again.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "No microphone was found: connect one and press Start again.";
  if (name === "NotReadableError")
    return "The microphone is in use by another program or could not be read.";
  return `The microphone could not be opened (${error && error.message ? error.message : error}).`;
}

function sessionUpdate(speakers) {
  const transcription = { model: "whisper-1" };
  if (speakers) transcription.polymodal_speakers = true; // polymodal's extension
  return {
    type: "session.update",
    session: {
      type: "transcription",
      audio: {
        input: {
          format: { type: "audio/pcm", rate: RATE },
          transcription,
          turn_detection: { type: "server_vad" },
        },
      },
    },
  };
}

/** The caption region: finished lines, and one interim line per item still being spoken. */
class Captions {
  constructor(region) {
    this.region = region;
    this.lines = new Map(); // item_id -> interim line
  }

  interim(itemId) {
    let line = this.lines.get(itemId);
    if (!line) {
      line = h("p", { className: "live-line interim", dataset: { item: itemId } });
      this.lines.set(itemId, line);
      this.region.append(line);
    }
    return line;
  }

  delta(itemId, text) {
    const line = this.interim(itemId);
    line.textContent += text;
    line.scrollIntoView({ block: "nearest" });
  }

  completed(itemId, transcript, speaker) {
    const line = this.interim(itemId);
    this.lines.delete(itemId);
    if (!transcript.trim()) {
      line.remove();
      return;
    }
    line.className = "live-line final";
    line.replaceChildren();
    if (speaker) {
      line.dataset.speaker = speaker;
      line.append(h("span", { className: "live-who", title: `Speaker ${speaker}` }, speaker));
    }
    line.append(h("span", { className: "live-said" }, transcript.trim()));
  }

  failed(itemId, message) {
    const line = this.interim(itemId);
    this.lines.delete(itemId);
    line.className = "live-line failed";
    line.textContent = `Not transcribed: ${message}`;
  }
}

/** One run of the microphone into the socket, from Start to Stop. */
class LiveRun {
  constructor({ speakers, captions, onError, onState }) {
    this.speakers = speakers;
    this.captions = captions;
    this.onError = onError;
    this.onState = onState;
    this.queue = [];
    this.open = new Set(); // items started and not completed yet
    this.stopping = false;
    this.ended = false;
  }

  async start() {
    this.onState("starting", "Asking for the microphone…");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error(
        "This browser offers the microphone only to secure pages: open the page over https or from localhost.",
      );
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
    } catch (error) {
      throw new Error(micSentence(error));
    }
    await this.audio();
    this.connect();
  }

  async audio() {
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule(new URL("../pcm-worklet.js", import.meta.url));
    const source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, "pcm16-24k", {
      processorOptions: { targetRate: RATE, chunkMs: CHUNK_MS },
    });
    const mute = this.context.createGain(); // pulls the graph without playing the microphone
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(this.context.destination);
    this.node.port.onmessage = (event) => this.chunk(event.data);
    if (this.context.state === "suspended") await this.context.resume();
  }

  connect() {
    const key = apiKey();
    const protocols = ["realtime", ...(key ? [`openai-insecure-api-key.${key}`] : [])];
    this.onState("starting", "Connecting to the server…");
    try {
      this.ws = new WebSocket(socketUrl(), protocols);
    } catch (error) {
      throw new Error(
        `The live socket could not be opened (${error.message}); an API key must be plain letters, digits and punctuation.`,
      );
    }
    this.ws.onopen = () => {
      this.opened = true;
      this.send(sessionUpdate(this.speakers));
      for (const buffer of this.queue.splice(0)) this.append(buffer);
    };
    this.ws.onmessage = (message) => this.receive(JSON.parse(message.data));
    this.ws.onclose = (event) => this.closed(event);
  }

  send(event) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(event));
  }

  append(buffer) {
    this.send({ type: "input_audio_buffer.append", audio: base64(buffer) });
  }

  chunk(data) {
    if (data === "flushed") {
      this.flushed?.();
      return;
    }
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.append(data);
    else if (this.queue.length < QUEUED_CHUNKS) this.queue.push(data);
  }

  receive(event) {
    switch (event.type) {
      case "session.created":
      case "session.updated":
        if (!this.stopping) this.onState("listening", "Listening: speak, and the captions appear below.");
        break;
      case "input_audio_buffer.speech_started":
        this.open.add(event.item_id);
        this.captions.interim(event.item_id);
        break;
      case `${EVENT}.delta`:
        this.captions.delta(event.item_id, event.delta);
        break;
      case `${EVENT}.completed`:
        this.open.delete(event.item_id);
        this.captions.completed(event.item_id, event.transcript || "", event.speaker);
        if (this.stopping && !this.open.size) this.finish();
        break;
      case `${EVENT}.failed`:
        this.open.delete(event.item_id);
        this.captions.failed(event.item_id, event.error?.message || "the server gave no reason");
        if (this.stopping && !this.open.size) this.finish();
        break;
      case "error":
        if (this.stopping && event.error?.event_id === STOP_COMMIT) break; // the item ended first
        this.onError(event.error?.message || "The server reported an error without a sentence.");
        break;
      default:
        break; // speech_stopped, committed, cleared: nothing to show
    }
  }

  closed(event) {
    const expected = this.stopping;
    this.release();
    if (expected) return;
    if (!this.opened) {
      // a refused upgrade (a 401 for a missing or wrong key) reaches a page only as code 1006
      const hint = apiKey() ? "check the API key typed above" : "if it needs an API key, type it above";
      this.onError(`The server did not accept the live connection (code ${event.code}): ${hint}.`);
      return;
    }
    const why = event.reason ? `: ${event.reason}` : "";
    this.onError(`The connection to the server closed (code ${event.code})${why}.`);
  }

  /** Stop: the last audio out, the open item committed, its transcript awaited, then close. */
  async stop() {
    if (this.stopping || this.ended) return;
    this.stopping = true;
    this.onState("stopping", "Finishing the last words…");
    for (const track of this.stream?.getTracks() || []) track.stop();
    if (this.node && this.ws?.readyState === WebSocket.OPEN) {
      await new Promise((resolve) => {
        this.flushed = resolve;
        this.node.port.postMessage("flush");
        setTimeout(resolve, 1000);
      });
    }
    if (this.ws?.readyState !== WebSocket.OPEN || !this.open.size) {
      this.finish();
      return;
    }
    this.send({ type: "input_audio_buffer.commit", event_id: STOP_COMMIT });
    this.timer = setTimeout(() => this.finish(), LAST_WORDS_MS);
  }

  finish() {
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "stopped");
    this.release();
  }

  release() {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    for (const track of this.stream?.getTracks() || []) track.stop();
    this.node?.port.postMessage("stop");
    this.node?.disconnect();
    this.context?.close().catch(() => {});
    this.onState("idle", "");
  }
}

export function mount(panel) {
  stylesheet();
  const button = h("button", { type: "button", className: "primary live-toggle" }, "Start");
  const speakersId = "live-speakers";
  const speakers = h("input", { type: "checkbox", id: speakersId });
  const status = statusLine();
  const error = errorBox();
  const region = h("div", {
    className: "live-captions",
    "aria-live": "polite",
    "aria-label": "Captions",
    role: "log",
  });
  const captions = new Captions(region);
  let run = null;

  const setState = (state, text) => {
    panel.dataset.state = state;
    button.textContent = state === "idle" ? "Start" : "Stop";
    button.dataset.running = String(state !== "idle");
    button.disabled = state === "stopping";
    speakers.disabled = state !== "idle";
    status.textContent = text;
    status.hidden = !text;
    if (state === "idle") run = null;
  };
  const fail = (sentence) => showError(error, sentence);

  button.addEventListener("click", async () => {
    if (run) {
      await run.stop();
      return;
    }
    error.hidden = true;
    run = new LiveRun({ speakers: speakers.checked, captions, onError: fail, onState: setState });
    const mine = run;
    try {
      await mine.start();
    } catch (failure) {
      mine.stopping = true; // not the server's doing: no "connection closed" on top
      mine.release();
      fail(failure);
    }
  });
  window.addEventListener("pagehide", () => run?.finish());

  panel.append(
    h("h2", {}, "Live captions"),
    h(
      "p",
      { className: "note" },
      "Captions of your microphone while you speak: words appear as they are settled, and a line is finished at each pause.",
    ),
    h(
      "div",
      { className: "actions" },
      button,
      h("label", { className: "check-field", htmlFor: speakersId }, speakers, " Label speakers"),
    ),
    status,
    error,
    region,
  );
  setState("idle", "");
}
