"""Cutting a stream of audio blocks into Whisper's 30 s windows of speech.

Voice-activity detection (Silero, as shipped with faster-whisper) finds the speech; silence is
cut out, so it costs no decoding and produces no invented text. What remains is handed to the
decoder as Whisper's own sequential algorithm does: a 30 s window, and the next window starts
where the decoder's last complete segment ended (:class:`SourceWindows`), so a sentence cut by a
window edge is decoded again whole. (Planning chunks at pauses and decoding each alone, which
would let one file's chunks share a batch, measured a third more word errors on our passages.)

Each :class:`Chunk` remembers where its pieces came from, so times decoded inside a window map
back to the original file. Blocks are processed one at a time (a region that runs into the end
of a block is carried over), so memory stays bounded on hours of audio.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from polymodal.media.audio import SAMPLE_RATE

CHUNK_SECONDS = 30.0
_CARRY_MARGIN = 1.0  # seconds at a block's end that may hold an onset VAD has not seen whole
_MIN_WINDOW_SECONDS = 0.1  # a remainder shorter than this holds no word
_MAX_REGION_SECONDS = 60.0  # well under a decoded block (media.audio), so carries stay small


@dataclass(frozen=True)
class Chunk:
    """Up to 30 s of audio for one decoder pass, made of pieces of one source file.

    ``pieces`` holds ``(original_start, duration)`` in seconds, in the order they were joined.
    """

    source: int
    audio: np.ndarray
    pieces: tuple[tuple[float, float], ...]
    speech: tuple[tuple[float, float], ...] = ()

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE

    @property
    def original_end(self) -> float:
        start, length = self.pieces[-1]
        return start + length

    def to_original(self, t: float, *, is_end: bool = False) -> float:
        """Map a time inside the chunk to the source file's timeline."""
        offsets = self._offsets()
        t = min(max(t, 0.0), self.duration)
        index = (
            bisect.bisect_left(offsets, t) - 1 if is_end else bisect.bisect_right(offsets, t) - 1
        )
        index = min(max(index, 0), len(self.pieces) - 1)
        start, length = self.pieces[index]
        return round(start + min(t - offsets[index], length), 3)

    def after(self, t: float) -> Chunk:
        """The rest of this chunk from chunk-local time ``t`` (to decode what Whisper left)."""
        skip = t
        pieces = []
        for start, length in self.pieces:
            if skip >= length:
                skip -= length
                continue
            pieces.append((round(start + skip, 3), length - skip))
            skip = 0.0
        audio = self.audio[int(t * SAMPLE_RATE) :]
        return Chunk(self.source, audio, tuple(pieces), self.speech)

    def before(self, t: float) -> Chunk:
        """This chunk cut at chunk-local time ``t`` (a window's 30 s edge)."""
        left = t
        pieces = []
        for start, length in self.pieces:
            if left <= 0:
                break
            pieces.append((start, min(length, left)))
            left -= length
        return Chunk(self.source, self.audio[: int(t * SAMPLE_RATE)], tuple(pieces), self.speech)

    def map_span(self, start: float, end: float) -> tuple[float, float]:
        """Map a word's span; its middle picks the piece, so a word never straddles a join."""
        offsets = self._offsets()
        index = max(bisect.bisect_right(offsets, (start + end) / 2) - 1, 0)
        origin, length = self.pieces[index]
        local = offsets[index]

        def clamp(t: float) -> float:
            return round(origin + min(max(t - local, 0.0), length), 3)

        return clamp(start), clamp(end)

    def _offsets(self) -> list[float]:
        offsets, total = [], 0.0
        for _, length in self.pieces:
            offsets.append(total)
            total += length
        return offsets


@dataclass(frozen=True)
class SourceDone:
    """Marks the end of one source in a chunk stream (all its chunks came before it).

    ``error`` is set when the source failed part way (its earlier chunks are then void).
    """

    source: int
    regions: tuple[tuple[float, float], ...] = ()
    duration: float = 0.0
    error: Exception | None = None


def _vad_options():
    from faster_whisper.vad import VadOptions

    # Faster-whisper's sequential settings: only pauses over 2 s are cut out, each region keeping
    # 400 ms of padding. Cutting pauses down to 160 ms (its batched setting) ran words together
    # at the joins: 0.106 word error rate instead of 0.029 on the benchmark passage. Regions are
    # split after 60 s (at a short pause) so that talk with no 2 s pause cannot make a block's
    # carried-over region, and memory, grow without end.
    return VadOptions(max_speech_duration_s=_MAX_REGION_SECONDS)


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """Speech stretches of a whole waveform as ``(start, end)`` seconds (Silero VAD)."""
    from faster_whisper.vad import get_speech_timestamps

    found = get_speech_timestamps(audio, _vad_options())
    return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in found]


def _block_regions(
    blocks: Iterable[np.ndarray], vad: bool
) -> Iterator[tuple[np.ndarray, float, list[tuple[int, int]], list[tuple[int, int]]]]:
    """Per block: ``(audio, offset_s, windows, speech)`` in samples, carrying open regions.

    ``speech`` is what VAD heard; ``windows`` what gets decoded: the speech itself, or plain
    30 s windows when VAD filtering is off (speech is still found, for the suspect flags).
    """
    from faster_whisper.vad import get_speech_timestamps

    carry = np.zeros(0, dtype=np.float32)
    offset = 0.0
    blocks = iter(blocks)
    current = next(blocks, None)
    step = int(CHUNK_SECONDS * SAMPLE_RATE)
    while current is not None:
        following = next(blocks, None)
        audio = np.concatenate([carry, current]) if carry.size else current
        speech = [(r["start"], r["end"]) for r in get_speech_timestamps(audio, _vad_options())]
        cut = audio.size
        if following is not None:
            if vad:
                margin = audio.size - int(_CARRY_MARGIN * SAMPLE_RATE)
                cut = min([margin, *(s for s, e in speech if e >= margin)])
            else:
                cut = (audio.size // step) * step or audio.size
            speech = [(s, min(e, cut)) for s, e in speech if s < cut]
        windows = speech if vad else [(s, min(s + step, cut)) for s in range(0, cut, step)]
        yield audio[:cut], offset, windows, speech
        carry = audio[cut:]
        offset += cut / SAMPLE_RATE
        current = following


def join(chunks: list[Chunk]) -> Chunk:
    """One chunk made of consecutive chunks of one source."""
    if len(chunks) == 1:
        return chunks[0]
    speech = tuple(dict.fromkeys(r for c in chunks for r in c.speech))
    pieces = tuple(p for c in chunks for p in c.pieces)
    audio = np.concatenate([c.audio for c in chunks])
    return Chunk(chunks[0].source, audio, pieces, speech)


SpeechListener = Callable[[np.ndarray, float, list[tuple[float, float]]], None]


def speech_pieces(
    blocks: Iterable[np.ndarray],
    source: int = 0,
    *,
    vad: bool = True,
    on_speech: SpeechListener | None = None,
) -> Iterator[Chunk | SourceDone]:
    """One source's speech as single-piece chunks, then a :class:`SourceDone` with all speech
    regions. Without VAD filtering the pieces are plain 30 s stretches of the audio.

    ``on_speech(audio, offset, regions)`` hears every block once, with where it starts and the
    speech VAD found in it (seconds in the source), before the block's chunks are yielded: the
    speaker labeller listens here, so transcription and diarization share one VAD pass.
    """
    regions: list[tuple[float, float]] = []
    total = 0.0
    for audio, offset, windows, speech in _block_regions(blocks, vad):
        total = offset + audio.size / SAMPLE_RATE
        found = [(offset + s / SAMPLE_RATE, offset + e / SAMPLE_RATE) for s, e in speech]
        regions.extend(found)
        if on_speech is not None:
            on_speech(audio, offset, found)
        for s, e in windows:
            if e <= s:
                continue
            start, end = offset + s / SAMPLE_RATE, offset + e / SAMPLE_RATE
            near = tuple(r for r in regions if r[1] >= start and r[0] <= end)
            yield Chunk(source, audio[s:e], ((round(start, 3), (e - s) / SAMPLE_RATE),), near)
    yield SourceDone(source, tuple(regions), round(total, 3))


class SourceWindows:
    """One source's speech handed out as Whisper windows that move on as decoding consumes them.

    ``window()`` is the next (up to) 30 s of speech; ``advance(t)`` drops the first ``t``
    seconds of it: all of it when Whisper finished its last segment, up to the last complete
    segment when it did not. Only about one window of audio is held at a time.
    """

    def __init__(self, items: Iterator[Chunk | SourceDone]) -> None:
        self._items = items
        self._buffer: list[Chunk] = []
        self.done: SourceDone | None = None

    def _fill(self) -> None:
        while self.done is None and sum(c.duration for c in self._buffer) < CHUNK_SECONDS:
            item = next(self._items)
            if isinstance(item, SourceDone):
                self.done = item
                if item.error is not None:
                    self._buffer = []  # the source failed part way: its results are void
            else:
                self._buffer.append(item)

    def window(self) -> Chunk | None:
        """The next window, or ``None`` when the source is used up (``done`` is then set)."""
        self._fill()
        while self._buffer and self._buffer[0].duration < _MIN_WINDOW_SECONDS:
            self._buffer.pop(0)  # a sliver Whisper could not hear a word in
        if not self._buffer:
            return None
        joined = join(self._buffer)
        return joined.before(CHUNK_SECONDS) if joined.duration > CHUNK_SECONDS else joined

    def advance(self, seconds: float) -> None:
        """Drop the first ``seconds`` of the buffered speech (what the decoder consumed)."""
        while self._buffer and seconds > 0:
            head = self._buffer[0]
            if seconds >= head.duration - 1e-6:
                seconds -= head.duration
                self._buffer.pop(0)
            else:
                self._buffer[0] = head.after(seconds)
                seconds = 0.0
