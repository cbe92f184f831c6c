"""``/v1/realtime?intent=transcription``: live captions over OpenAI's realtime WebSocket.

The client speaks OpenAI's realtime transcription protocol: ``session.update`` (or the beta
``transcription_session.update``) sets the format, model, language, prompt and turn
detection; ``input_audio_buffer.append`` sends base64 PCM16 (no answer), ``.commit`` and
``.clear`` end or drop the current audio. The server answers with ``session.created`` /
``.updated``, ``input_audio_buffer.speech_started`` / ``speech_stopped`` / ``committed`` /
``cleared``, the item's ``conversation.item.input_audio_transcription.delta`` events, then
exactly one ``.completed`` (or ``.failed``) per item. Text is committed while the words are
spoken, so deltas arrive *before* ``speech_stopped``; they concatenate to the completed text.
A bad event is answered with an ``error`` event and the socket stays open.
Each committed item is announced as a conversation item too (``conversation.item.added`` and
``.done``; the beta protocol's ``conversation.item.created``: :mod:`.realtime_items`).
One extension: ``polymodal_speakers: true`` in the session's transcription settings puts a
``speaker`` label (``A``, ``B``, ...) on each completed item (:mod:`.realtime_config`).

The model work is :class:`polymodal.LiveSession` (the library's streaming engine) on a
thread of this module's own pool, one job at a time per connection, in the order the events
came; sessions share the loaded model. Bounded everywhere: appends over
:attr:`RealtimeLimits.max_append_bytes` are refused, audio waiting for the model past
``max_pending_seconds`` stops the reading of the socket (TCP pushes back on the client), a
client that does not read its events fills ``send_queue`` and is disconnected with a
sentence, a connection silent for ``idle_timeout_s`` is closed, and at most
``max_sessions`` run at once. The API key, when set, is checked before the upgrade
(:mod:`~polymodal.server.security`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket

import polymodal
from polymodal.errors import BadInputError, BusyError, PolymodalError, TooLargeError
from polymodal.server.errors import error_body
from polymodal.server.openai.realtime_config import SessionConfig, beta_config, parse_update
from polymodal.server.openai.realtime_items import ConversationItems
from polymodal.server.state import ServerState

log = logging.getLogger("polymodal.server")
router = APIRouter(tags=["realtime"])


@dataclass(frozen=True)
class RealtimeLimits:
    """The bounds of the realtime route; set ``app.state.polymodal_realtime`` to change them."""

    max_sessions: int = 4
    idle_timeout_s: float = 120.0
    send_queue: int = 512
    """Events waiting for a client that does not read them; past it the client is dropped."""
    max_append_bytes: int = 2 * 1024 * 1024
    """Decoded PCM in one append (about 43 s at 24 kHz)."""
    max_pending_seconds: float = 20.0
    """Audio received and not yet handed to the model, before the socket stops being read."""


class _Hub:
    """The app's realtime sessions: their count and the threads their model work runs on."""

    def __init__(self, limits: RealtimeLimits) -> None:
        self.limits = limits
        self.sessions = 0
        self.executor = ThreadPoolExecutor(limits.max_sessions, thread_name_prefix="pm-live")


def _hub(websocket: WebSocket) -> _Hub:
    state = websocket.app.state
    hub = getattr(state, "polymodal_realtime_hub", None)
    if hub is None:
        hub = _Hub(getattr(state, "polymodal_realtime", RealtimeLimits()))
        state.polymodal_realtime_hub = hub
    return hub


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket, intent: str | None = None) -> None:
    """One realtime transcription session per connection."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    hub = _hub(websocket)
    if intent not in (None, "transcription"):
        error = BadInputError(
            f"This server runs transcription sessions only (intent=transcription), not '{intent}'.",
            param="intent",
        )
        await _refuse(websocket, error, 1008)
        return
    if hub.sessions >= hub.limits.max_sessions:
        busy = BusyError(
            f"All {hub.limits.max_sessions} live transcription sessions are in use; "
            "try again later."
        )
        await _refuse(websocket, busy, 1013)
        return
    hub.sessions += 1
    try:
        await _Connection(websocket, websocket.app.state.polymodal, hub).run()
    finally:
        hub.sessions -= 1


async def _refuse(websocket: WebSocket, error: PolymodalError, code: int) -> None:
    await websocket.send_text(json.dumps(_error_event(error)))
    await websocket.close(code=code, reason=str(error)[:120])


def _event_id() -> str:
    return f"event_{uuid.uuid4().hex[:20]}"


def _error_event(error: PolymodalError, event_id: str | None = None) -> dict[str, Any]:
    body = error_body(error)["error"]
    body["event_id"] = event_id
    return {"type": "error", "event_id": _event_id(), "error": body}


class _TooSlow(Exception):
    """The client let ``send_queue`` events pile up unread."""


@dataclass(frozen=True)
class _Job:
    kind: str  # audio, commit, clear, update
    audio: np.ndarray | None = None
    rate: int = 0
    event_id: str | None = None
    config: SessionConfig | None = None
    previous: SessionConfig | None = None  # restored when the update fails on the model


class _Connection:
    """One socket: a reader (the handler's own task), a model worker and a writer."""

    def __init__(self, websocket: WebSocket, state: ServerState, hub: _Hub) -> None:
        self.ws, self.state, self.hub, self.limits = websocket, state, hub, hub.limits
        self.config = SessionConfig(session_id=f"sess_{uuid.uuid4().hex[:20]}")
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.limits.send_queue)
        self.jobs: deque[_Job] = deque()
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.pending = 0.0  # seconds of audio in ``jobs``
        self.heard = asyncio.get_running_loop().time()  # when the client last sent anything
        self.session: Any = None  # polymodal.LiveSession, made on the worker at first need
        self.items = ConversationItems()
        self.failure: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def run(self) -> None:
        self.emit({"type": "session.created", "event_id": _event_id(), **self.config.shown()})
        self._queue(_Job("update", config=self.config))  # load the model before audio comes
        tasks = [asyncio.create_task(job()) for job in (self._write, self._work, self._watch)]
        reader = asyncio.create_task(self._read())
        try:
            done, _ = await asyncio.wait(
                [reader, self.failure], return_when=asyncio.FIRST_COMPLETED
            )
            if self.failure in done:
                await self._drop(self.failure.result())
        finally:
            for task in (reader, *tasks):
                task.cancel()
            # wait, not gather: a gather cancelled by the server's own cancellation (the
            # client gone) cancels again and lets the CancelledError escape the scope
            await asyncio.wait([reader, *tasks])

    # -- reading ---------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            self.heard = asyncio.get_running_loop().time()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.error(BadInputError("Send events as JSON text frames, not binary."))
                continue
            await self._handle(text)

    async def _watch(self) -> None:
        """Close a connection silent for ``idle_timeout_s`` (a watchdog rather than a timeout
        around each receive, which would have to cancel the receive itself)."""
        loop, limit = asyncio.get_running_loop(), self.limits.idle_timeout_s
        while True:
            left = self.heard + limit - loop.time()
            if left <= 0:
                self._fail(PolymodalError(f"The session was idle for {limit:g} s and is closed."))
                return
            await asyncio.sleep(left)

    async def _handle(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            self.error(BadInputError("The event is not valid JSON."))
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.error(BadInputError("An event must be a JSON object with a 'type'.", param="type"))
            return
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        try:
            await self._dispatch(event, event_id)
        except PolymodalError as exc:
            self.error(exc, event_id)

    async def _dispatch(self, event: dict[str, Any], event_id: str | None) -> None:
        kind = event["type"]
        if kind == "input_audio_buffer.append":
            await self._append(event, event_id)
        elif kind in ("input_audio_buffer.commit", "input_audio_buffer.clear"):
            self._queue(_Job(kind.rsplit(".", 1)[1], event_id=event_id))
        elif kind in ("session.update", "transcription_session.update"):
            beta = kind == "transcription_session.update"
            self.items.beta = beta
            update = beta_config if beta else parse_update
            config = update(self.config, event.get("session"))
            self.state.whisper.resolve(config.model)  # an unknown model: an error event now
            self._queue(_Job("update", config=config, previous=self.config))
            self.config = config
            shown = config.shown(beta=beta)
            self.emit({"type": kind.replace("update", "updated"), "event_id": _event_id(), **shown})
        else:
            raise BadInputError(f"Unknown event type '{kind}'.", param="type")

    async def _append(self, event: dict[str, Any], event_id: str | None) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise BadInputError("An append needs 'audio': base64 PCM16 samples.", param="audio")
        if len(audio) > self.limits.max_append_bytes * 4 // 3 + 4:
            raise TooLargeError(
                f"One append may carry at most {self.limits.max_append_bytes:,} bytes of "
                "audio; send smaller pieces.",
                param="audio",
            )
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise BadInputError("The appended audio is not valid base64.", param="audio") from None
        if len(data) % 2:
            raise BadInputError(
                "The appended audio is not whole 16-bit samples (odd byte count).", param="audio"
            )
        if not data:
            return
        rate = self.config.rate
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
        await self.drained.wait()  # the model is behind: stop reading until it catches up
        self.pending += samples.size / rate
        if self.pending > self.limits.max_pending_seconds:
            self.drained.clear()
        self._queue(_Job("audio", samples, rate, event_id))

    def _queue(self, job: _Job) -> None:
        self.jobs.append(job)
        self.wake.set()

    # -- the model worker --------------------------------------------------------------------

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.jobs:
                job = self._next_job()
                try:
                    events = await loop.run_in_executor(self.hub.executor, self._run, job)
                except PolymodalError as exc:
                    if job.previous is not None:
                        self.config = job.previous  # the model refused these settings
                    self.error(exc, job.event_id)
                    continue
                except Exception:
                    log.exception("live transcription failed")
                    self.error(PolymodalError("The live transcription hit an unexpected error."))
                    continue
                for event in events:
                    self.emit(_openai_event(event))
                    for item_event in self.items.after(event):
                        self.emit(item_event)
                if job.kind == "clear":
                    self.emit({"type": "input_audio_buffer.cleared", "event_id": _event_id()})

    def _next_job(self) -> _Job:
        """The next job; consecutive appends at one rate are joined into one feed."""
        job = self.jobs.popleft()
        if job.kind != "audio":
            return job
        parts = [job.audio]
        while self.jobs and self.jobs[0].kind == "audio" and self.jobs[0].rate == job.rate:
            parts.append(self.jobs.popleft().audio)
        self.pending = sum(j.audio.size / j.rate for j in self.jobs if j.kind == "audio")
        self.drained.set()
        return replace(job, audio=np.concatenate(parts))

    def _run(self, job: _Job) -> list[Any]:
        """One job on a model thread: the library's events for it."""
        if job.kind == "update":
            return self._configure(job.config) if job.config is not None else []
        session = self._session()
        if job.kind == "audio":
            return session.feed(job.audio, job.rate)
        return session.commit() if job.kind == "commit" else session.clear()

    def _session(self) -> Any:
        if self.session is None:
            transcriber = self._transcriber(self.config)
            self.session = polymodal.LiveSession(transcriber, self.config.options())
        return self.session

    def _configure(self, config: SessionConfig) -> list[Any]:
        model = self._transcriber(config)
        if self.session is None:
            self.session = polymodal.LiveSession(model, config.options())
            return []
        return self.session.update(config.options(), model)

    def _transcriber(self, config: SessionConfig) -> Any:
        name = self.state.whisper.resolve(config.model)
        return self.state.whisper.load(name, polymodal.Transcriber)

    # -- writing -----------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(event)
        except asyncio.QueueFull:
            self._fail(_TooSlow())

    def error(self, error: PolymodalError, event_id: str | None = None) -> None:
        self.emit(_error_event(error, event_id))

    def _fail(self, reason: BaseException) -> None:
        if not self.failure.done():
            self.failure.set_result(reason)

    async def _write(self) -> None:
        while True:
            event = await self.outbox.get()
            await self.ws.send_text(json.dumps(event, ensure_ascii=False))

    async def _drop(self, reason: BaseException) -> None:
        """Close the socket with a sentence (the writer is stopped first: a client too slow
        to read gets only the close frame, which may not reach it either)."""
        if isinstance(reason, _TooSlow):
            reason = BusyError(
                f"The client did not read its events ({self.limits.send_queue} waiting): the "
                "session is closed."
            )
            code = 1008
        else:
            code = 1000
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(reason), 1.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, reason=str(reason)[:120]), 1.0)

    async def _flush(self, reason: BaseException) -> None:
        while not self.outbox.empty():
            await self.ws.send_text(json.dumps(self.outbox.get_nowait()))
        if isinstance(reason, PolymodalError):
            await self.ws.send_text(json.dumps(_error_event(reason)))


_OPENAI_TYPES = {
    "speech_started": "input_audio_buffer.speech_started",
    "speech_stopped": "input_audio_buffer.speech_stopped",
    "committed": "input_audio_buffer.committed",
    "delta": "conversation.item.input_audio_transcription.delta",
    "completed": "conversation.item.input_audio_transcription.completed",
    "failed": "conversation.item.input_audio_transcription.failed",
}


def _openai_event(event: Any) -> dict[str, Any]:
    """A library event in OpenAI's shape."""
    out: dict[str, Any] = {
        "type": _OPENAI_TYPES[event.kind],
        "event_id": _event_id(),
        "item_id": event.item_id,
    }
    if event.kind == "speech_started":
        out["audio_start_ms"] = event.audio_start_ms
    elif event.kind == "speech_stopped":
        out["audio_end_ms"] = event.audio_end_ms
    elif event.kind == "committed":
        out["previous_item_id"] = event.previous_item_id
    elif event.kind == "delta":
        out |= {"content_index": 0, "delta": event.delta}
    elif event.kind == "completed":
        usage = {"type": "duration", "seconds": round(event.audio_seconds, 3)}
        out |= {"content_index": 0, "transcript": event.transcript, "usage": usage}
        if event.speaker is not None:  # asked for with polymodal_speakers (realtime_config)
            out["speaker"] = event.speaker
    else:
        error = {"type": "transcription_error", "code": event.code, "message": event.message}
        out |= {"content_index": 0, "error": {**error, "param": None}}
    return out
