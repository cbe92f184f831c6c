"""Live transcription: audio fed as it arrives, text committed while the words are spoken.

A :class:`LiveSession` takes blocks of audio (16 kHz float32, or PCM at another rate that it
resamples) and answers with typed events: where speech starts and stops, append-only text
deltas for the current *item* (one stretch of speech), then exactly one completed (or failed)
transcript per item. The deltas of an item concatenate exactly to its final text.

How text becomes stable (LocalAgreement-2, as whisper_streaming does it; ``agreement``):
every ``step_seconds`` of new audio the item's growing buffer is decoded again, prompted with
the text committed before it; the words two consecutive hypotheses agree on (case and
punctuation aside) are committed and never change; the rest waits for the next hypothesis.
When the buffer passes ``trim_seconds`` it is cut after a committed word that ends a segment
or sentence, so each re-decode reads a few seconds of audio, which the speech room's
short-window encoding (``engine.context_frames``) makes cheap: the encoder reads only the
buffer plus its margin.

Where items end (server-VAD turn detection; ``turns``): Silero VAD, the model ``chunks``
uses, runs on the stream frame by frame (its state carried across blocks, so its
probabilities equal one pass over the whole recording); speech starts after
``min_speech_ms`` over ``vad_threshold`` and stops after ``silence_duration_ms`` under it.
At the stop the buffer is decoded once more and everything left is committed: the last
words of a sentence arrive a pause and one decode after they were spoken, without waiting
for a second hypothesis. Silence is never decoded. Without turn detection audio only
accumulates and :meth:`LiveSession.commit` transcribes it with the offline route
(:meth:`Transcriber.transcribe`).

Decoding is the speech room's own (:func:`engine.decode` on one chunk), one decode at a time
per loaded model, so sessions sharing a model queue instead of slowing each other down.
Memory per session is bounded: the decoding buffer by trimming (and ``max_buffer_seconds``),
the manual buffer by ``max_commit_seconds``, the prompt by :data:`PROMPT_CHARS`.
``speakers=True`` labels each completed item's voice (:mod:`.live_speakers`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from polymodal.errors import BadInputError, NoSpeechError, PolymodalError, TooLargeError
from polymodal.media.audio import SAMPLE_RATE
from polymodal.speech.agreement import ItemBuffer, spoken
from polymodal.speech.chunks import Chunk, SourceDone
from polymodal.speech.engine import Decoded, decode
from polymodal.speech.live_events import (
    ItemCommitted,
    LiveEvent,
    SpeechStarted,
    SpeechStopped,
    TranscriptCompleted,
    TranscriptDelta,
    TranscriptFailed,
)
from polymodal.speech.live_options import LiveOptions
from polymodal.speech.live_speakers import speaker_labeller
from polymodal.speech.options import DecodeOptions
from polymodal.speech.results import Word
from polymodal.speech.transcriber import Transcriber, as_transcriber

__all__ = [
    "ItemCommitted",
    "LiveEvent",
    "LiveOptions",
    "LiveSession",
    "SpeechStarted",
    "SpeechStopped",
    "TranscriptCompleted",
    "TranscriptDelta",
    "TranscriptFailed",
    "iter_events",
]
from polymodal.speech.turns import StreamingVad, Turn, TurnDetector

#: Characters of committed text carried into the next decode's prompt (whisper_streaming's
#: 200): enough to keep names and spelling, short enough not to crowd the user's prompt.
PROMPT_CHARS = 200


# --- the session ----------------------------------------------------------------------------

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _model_lock(transcriber: Transcriber) -> threading.Lock:
    """One decode at a time per loaded model: two sessions decoding at once on a 2-core CPU
    each take twice as long, so both hypotheses arrive late; queued, the first is on time."""
    key = id(transcriber.engine.model)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class LiveSession:
    """One live transcription: :meth:`feed` audio as it arrives, read the events it returns.

    ``model`` is a loaded :class:`Transcriber` (sessions share it and its memory) or a
    catalogue name. Not thread-safe: one caller feeds a session, while any number of
    sessions may run in parallel threads.
    """

    def __init__(
        self, model: Transcriber | str | None = None, options: LiveOptions | None = None
    ) -> None:
        self.transcriber = as_transcriber(model)
        self.options = options or LiveOptions()
        self._decode = self.options.decode.checked(self.transcriber.engine)
        self._lock = _model_lock(self.transcriber)
        self._vad = StreamingVad()
        self._turns = _detector(self.options)
        self._voices = speaker_labeller(self.options.speakers)
        self._resampler: tuple[int, Any] | None = None
        self._samples = 0  # audio heard so far, at 16 kHz
        self._recent = np.zeros(0, np.float32)  # audio before speech, for the prefix padding
        self._manual: list[np.ndarray] = []
        self._manual_samples = 0
        self._item: ItemBuffer | None = None
        self._last_item: str | None = None
        self._said = ""  # committed text before the buffer: the prompt's tail
        self._tail: tuple[np.ndarray, float, list[Word]] | None = None  # see carry_seconds
        self.decode_seconds = 0.0
        """Seconds spent decoding so far (over audio seconds: the real-time factor)."""

    @property
    def buffered_seconds(self) -> float:
        """Audio held now: the item's decoding buffer, or the audio awaiting a commit."""
        held = self._item.audio.size if self._item is not None else self._manual_samples
        return held / SAMPLE_RATE

    # -- the caller's four verbs -----------------------------------------------------------

    def feed(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[LiveEvent]:
        """Take the next block of audio (float32 in [-1, 1], or int16 PCM) and return what it
        made happen. Decodes at most once per call, so a caller that falls behind catches up
        by handing over bigger blocks."""
        audio = self._resample(_as_float(samples), sample_rate)
        if not self.options.turn_detection:
            self._hold(audio)
            return []
        events: list[LiveEvent] = []
        start, cursor = self._samples, 0
        for turn in self._turns(self._vad(audio)):
            upto = min(max(turn.at - start, cursor), audio.size)
            self._take(audio[cursor:upto])
            cursor = upto
            events += self._begin(turn) if turn.started else self._stop(turn)
        self._take(audio[cursor:])
        item = self._item
        step = self.options.step_seconds * SAMPLE_RATE
        if item is not None and item.heard - item.decoded >= step:
            events += self._guarded(item, self._tick)
        return events

    def commit(self) -> list[LiveEvent]:
        """End the current item now (turn detection) or transcribe the held audio (without):
        its committed event, its last text and its completed transcript. Raises
        :class:`BadInputError` when there is nothing to commit."""
        if not self.options.turn_detection:
            return self._commit_manual()
        item = self._item
        if item is None:
            raise BadInputError(
                "The input audio buffer holds no speech to commit.", param="input_audio_buffer"
            )
        self._turns.reset()
        return self._guarded(item, self._final)

    def clear(self) -> list[LiveEvent]:
        """Drop the audio not yet transcribed. An item in progress completes with the text
        already committed (its deltas are out; nothing is taken back)."""
        self._manual, self._manual_samples = [], 0
        self._recent, self._tail = np.zeros(0, np.float32), None
        self._turns.reset()
        item = self._item
        if item is None:
            return []
        return self._end(item, [ItemCommitted(item.id, self._last_item)])

    def finish(self) -> list[LiveEvent]:
        """The end of the stream: the current item stopped, decoded and completed."""
        item = self._item
        if item is None:
            return []
        self._turns.reset()
        return [SpeechStopped(item.id, _ms(self._samples)), *self._guarded(item, self._final)]

    def update(
        self, options: LiveOptions, model: Transcriber | str | None = None
    ) -> list[LiveEvent]:
        """New options (and model, when given) from here on. An item in progress is finished
        first, with the old ones; held manual audio is dropped when turn detection changes.
        Raises :class:`BadInputError` (and changes nothing) when the options don't suit
        the model."""
        transcriber = self.transcriber if model is None else as_transcriber(model)
        checked = options.decode.checked(transcriber.engine)
        same = options.speakers == self.options.speakers
        voices = self._voices if same else speaker_labeller(options.speakers)
        events = self.finish()
        if options.turn_detection != self.options.turn_detection:
            self._manual, self._manual_samples = [], 0
        self.transcriber, self._lock = transcriber, _model_lock(transcriber)
        self.options, self._decode, self._turns = options, checked, _detector(options)
        self._voices = voices
        return events

    # -- turns -----------------------------------------------------------------------------

    def _take(self, audio: np.ndarray) -> None:
        self._samples += audio.size
        if self._item is not None:
            self._item.audio = np.concatenate([self._item.audio, audio])
            self._voices.hear(audio)
            return
        pause = max(500, round(self.options.carry_gap_seconds * 1000))
        keep = (self.options.prefix_padding_ms + self.options.min_speech_ms + pause) * 16
        self._recent = np.concatenate([self._recent, audio])[-keep:]

    def _begin(self, turn: Turn) -> list[LiveEvent]:
        pad = self.options.prefix_padding_ms * SAMPLE_RATE // 1000
        held_from = self._samples - self._recent.size
        first = max(turn.position - pad, held_from, 0)
        audio = self._recent[first - held_from :].copy()
        self._voices.start(audio)  # the item's own audio, not the carried tail
        item = ItemBuffer(_item_id(), first, first / SAMPLE_RATE, audio)
        tail, self._tail = self._tail, None
        if tail is not None:
            ended = round(tail[1] * SAMPLE_RATE) + tail[0].size  # samples: the last item's end
            gap = (first - ended) / SAMPLE_RATE
            if ended >= held_from and gap <= self.options.carry_gap_seconds:
                between = self._recent[ended - held_from :]
                item.audio = np.concatenate([tail[0], between])
                item.buffer_start, item.before = tail[1], tail[2]
        self._recent = np.zeros(0, np.float32)
        self._item = item
        return [SpeechStarted(item.id, _ms(first))]

    def _stop(self, turn: Turn) -> list[LiveEvent]:
        item = self._item
        if item is None:  # pragma: no cover - the detector alternates starts and stops
            return []
        return [SpeechStopped(item.id, _ms(turn.at)), *self._guarded(item, self._final)]

    def _guarded(self, item: ItemBuffer, step: Callable[[ItemBuffer], list[LiveEvent]]):
        """``step(item)``'s events, or the item's one failure when decoding raised (the
        session goes on: the next speech is a new item)."""
        try:
            return step(item)
        except Exception as exc:
            self._item = None
            self._turns.reset()
            if isinstance(exc, PolymodalError):
                return [TranscriptFailed(item.id, str(exc))]
            return [TranscriptFailed(item.id, f"Decoding failed: {exc}", "transcription_failed")]

    # -- agreement -------------------------------------------------------------------------

    def _tick(self, item: ItemBuffer) -> list[LiveEvent]:
        """Decode the buffer again; commit what this hypothesis and the last agree on."""
        words, ends = self._hypothesis(item, final=False)
        short = item.trimmed == 0 and item.seconds < self.options.min_agreement_seconds
        events = self._delta(item, item.agree(words, commit=not short))
        item.trim(ends, self.options.trim_seconds, self.options.max_buffer_seconds)
        self._remember(item.said())
        return events

    def _final(self, item: ItemBuffer) -> list[LiveEvent]:
        """The item's audio is complete: one last decode, and all of it committed."""
        events: list[LiveEvent] = [ItemCommitted(item.id, self._last_item)]
        words, _ = self._hypothesis(item, final=True)
        events += self._delta(item, item.fresh(words))
        events = self._end(item, events)
        self._keep_tail(item)
        return events

    def _keep_tail(self, item: ItemBuffer) -> None:
        """The item's last ``carry_seconds`` of audio and its words there, for the next item
        (their text leaves the prompt meanwhile: Whisper skips words it reads in both)."""
        size = min(item.audio.size, round(self.options.carry_seconds * SAMPLE_RATE))
        start = item.buffer_start + (item.audio.size - size) / SAMPLE_RATE
        words = [w for w in item.committed if w.start >= start]
        text = "".join(w.word for w in words)
        if not size or not words or not self._said.endswith(text):
            return
        self._said = self._said[: len(self._said) - len(text)]
        self._tail = (item.audio[item.audio.size - size :].copy(), start, words)

    def _end(self, item: ItemBuffer, events: list[LiveEvent]) -> list[LiveEvent]:
        self._remember(item.said(everything=True))
        self._item, self._last_item = None, item.id
        seconds = (self._samples - item.audio_start) / SAMPLE_RATE
        speaker = self._voices.finish()
        completed = TranscriptCompleted(item.id, item.text, tuple(item.committed), seconds, speaker)
        return [*events, completed]

    def _delta(self, item: ItemBuffer, words: list[Word]) -> list[LiveEvent]:
        delta = item.commit(words)
        return [TranscriptDelta(item.id, delta)] if delta else []

    def _hypothesis(self, item: ItemBuffer, *, final: bool) -> tuple[list[Word], list[float]]:
        """The buffer's words (session seconds) and its segments' ends. A hypothesis reads
        the buffer's first Whisper window only (the rest, if Whisper stopped short, is read
        by the next); the final one reads every window, with the fallback ladder (too slow,
        and pointless, for a sentence still being spoken)."""
        item.decoded = item.heard
        chunk = Chunk(0, item.audio, ((round(item.buffer_start, 3), item.seconds),))
        interim = self.options.interim_beam_size or self._decode.beam_size
        options = replace(
            self._decode,
            initial_prompt=self._prompt(),
            word_timestamps=True,
            fallback=final and self._decode.fallback,
            beam_size=self._decode.beam_size if final else interim,
        )
        started = time.perf_counter()
        with self._lock:
            decoded = list(_windows(self.transcriber, chunk, options, every=final))
        self.decode_seconds += time.perf_counter() - started
        segments = [words for d in decoded for s in d.segments if (words := spoken(s.words))]
        return [w for words in segments for w in words], [words[-1].end for words in segments]

    def _prompt(self) -> str | None:
        """The user's prompt, then the last committed text outside the buffer (Whisper would
        skip words it reads in both the prompt and the audio)."""
        user = (self.options.decode.initial_prompt or "").strip()
        return " ".join(p for p in (user, self._said.strip()) if p) or None

    def _remember(self, text: str) -> None:
        if text:
            self._said = (self._said + text)[-PROMPT_CHARS:]

    # -- manual commits --------------------------------------------------------------------

    def _hold(self, audio: np.ndarray) -> None:
        limit = int(self.options.max_commit_seconds * SAMPLE_RATE)
        if self._manual_samples + audio.size > limit:
            raise TooLargeError(
                f"The input audio buffer holds {self._manual_samples / SAMPLE_RATE:.0f} s, "
                f"the most one item takes is {self.options.max_commit_seconds:.0f} s: "
                "commit or clear it.",
                param="audio",
            )
        self._samples += audio.size
        self._manual.append(audio)
        self._manual_samples += audio.size

    def _commit_manual(self) -> list[LiveEvent]:
        """The held audio through the offline route (VAD, levelling, every window); one
        delta per segment."""
        if self._manual_samples < SAMPLE_RATE // 10:
            raise BadInputError(
                "The input audio buffer holds less than 100 ms of audio: nothing to commit.",
                param="input_audio_buffer",
            )
        audio = np.concatenate(self._manual)
        self._manual, self._manual_samples = [], 0
        item_id, seconds = _item_id(), audio.size / SAMPLE_RATE
        events: list[LiveEvent] = [ItemCommitted(item_id, self._last_item)]
        self._last_item = item_id
        options = replace(self._decode, initial_prompt=self._prompt(), word_timestamps=True)
        try:
            with self._lock:
                transcript = self.transcriber.transcribe(audio, options)
        except NoSpeechError:
            return [*events, TranscriptCompleted(item_id, "", (), seconds)]
        except PolymodalError as exc:
            return [*events, TranscriptFailed(item_id, str(exc))]
        texts = [s.text for s in transcript.segments if s.text]
        events += [TranscriptDelta(item_id, t if i == 0 else " " + t) for i, t in enumerate(texts)]
        self._remember(" " + transcript.text)
        words = tuple(w for s in transcript.segments for w in s.words)
        speaker = self._voices.label(audio)
        return [*events, TranscriptCompleted(item_id, transcript.text, words, seconds, speaker)]

    def _resample(self, audio: np.ndarray, rate: int) -> np.ndarray:
        """16 kHz audio from ``rate`` through one soxr stream per rate (its filter state
        carries across blocks, so block edges leave no clicks)."""
        if rate == SAMPLE_RATE:
            return audio
        if not 8000 <= rate <= 192_000:
            raise BadInputError(
                f"Audio at {rate} Hz cannot be read: give 8000-192000 Hz.", param="rate"
            )
        if self._resampler is None or self._resampler[0] != rate:
            import soxr

            self._resampler = (rate, soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32"))
        return self._resampler[1].resample_chunk(audio)


def _detector(options: LiveOptions) -> TurnDetector:
    return TurnDetector(options.vad_threshold, options.silence_duration_ms, options.min_speech_ms)


def _item_id() -> str:
    return f"item_{uuid.uuid4().hex[:24]}"


def _windows(transcriber: Transcriber, chunk: Chunk, options: DecodeOptions, *, every: bool):
    """The decoded windows of one chunk through the speech room's decoder (the first only,
    unless ``every``)."""
    stream = decode(transcriber.engine, [iter([chunk, SourceDone(0)])], options)
    try:
        for item in stream:
            if isinstance(item, Decoded):
                yield item
                if not every:
                    return
    finally:
        stream.close()


def _as_float(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.ndim != 1 or samples.dtype.kind != "f":
        raise BadInputError("Live audio must be mono float32 or int16 samples.", param="audio")
    return samples.astype(np.float32, copy=False)


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def iter_events(session: LiveSession, blocks: Iterator[np.ndarray]) -> Iterator[LiveEvent]:
    """Every event of ``blocks`` fed to ``session`` one by one, then its :meth:`finish`."""
    for block in blocks:
        yield from session.feed(block)
    yield from session.finish()
