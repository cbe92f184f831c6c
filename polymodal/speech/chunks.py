"""Cutting a stream of audio blocks into Whisper-sized chunks of speech.

Voice-activity detection (Silero, as shipped with faster-whisper) finds the speech; the speech
pieces are concatenated into chunks of at most 30 s so silence costs no decoding and produces
no invented text. Each :class:`Chunk` remembers where its pieces came from, so times decoded
inside a chunk map back to the original file. Blocks are processed one at a time (a region that
runs into the end of a block is carried over), so memory stays bounded on hours of audio.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from polymodal.media.audio import SAMPLE_RATE

CHUNK_SECONDS = 30.0
_CARRY_MARGIN = 1.0  # seconds at a block's end that may hold an onset VAD has not seen whole


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

    # faster-whisper's batched settings: short silences split regions, none longer than a chunk.
    return VadOptions(max_speech_duration_s=CHUNK_SECONDS, min_silence_duration_ms=160)


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


def _quietness(left: np.ndarray, right: np.ndarray, gap: float) -> float:
    """Lower is a deeper pause: a real gap between regions beats any touching junction, and
    touching junctions (VAD's padding meets) are ranked by the loudness around them."""
    if gap > 0.05:
        return -gap
    edge = int(0.2 * SAMPLE_RATE)
    around = np.concatenate([left[-edge:], right[:edge]])
    return float(np.sqrt(np.mean(np.square(around)))) if around.size else 0.0


def _plan(pieces: list[tuple[float, np.ndarray]]) -> list[int]:
    """Where to cut a block's speech into chunks: as few chunks as fit (each costs a full
    encoder pass), and among those the cuts at the deepest pauses, so sentences stay whole.

    Returns the exclusive end index of each chunk. A small dynamic programme over the pieces.
    """
    limit = CHUNK_SECONDS * SAMPLE_RATE
    count = len(pieces)
    best: list[tuple[float, float]] = [(0.0, 0.0)] + [(float("inf"), 0.0)] * count
    back = [0] * (count + 1)
    for end in range(1, count + 1):
        filled = 0
        cost = 0.0
        if end < count:
            left, right = pieces[end - 1], pieces[end]
            gap = right[0] - (left[0] + left[1].size / SAMPLE_RATE)
            cost = _quietness(left[1], right[1], gap)
        for start in range(end - 1, -1, -1):
            filled += pieces[start][1].size
            if filled > limit and start < end - 1:
                break
            candidate = (best[start][0] + 1, best[start][1] + cost)
            if candidate < best[end]:
                best[end], back[end] = candidate, start
    cuts, end = [], count
    while end > 0:
        cuts.append(end)
        end = back[end]
    return cuts[::-1]


def chunk_stream(
    blocks: Iterable[np.ndarray], source: int = 0, *, vad: bool = True
) -> Iterator[Chunk | SourceDone]:
    """Chunks of one source's speech, then a :class:`SourceDone` with all speech regions."""
    regions: list[tuple[float, float]] = []
    total = 0.0

    def make(pieces: list[tuple[float, np.ndarray]]) -> Chunk:
        first = pieces[0][0]
        last = pieces[-1][0] + pieces[-1][1].size / SAMPLE_RATE
        near = tuple(r for r in regions if r[1] >= first and r[0] <= last)
        spans = tuple((round(start, 3), audio.size / SAMPLE_RATE) for start, audio in pieces)
        return Chunk(source, np.concatenate([a for _, a in pieces]), spans, near)

    for audio, offset, windows, speech in _block_regions(blocks, vad):
        total = offset + audio.size / SAMPLE_RATE
        regions.extend((offset + s / SAMPLE_RATE, offset + e / SAMPLE_RATE) for s, e in speech)
        pieces = [(offset + s / SAMPLE_RATE, audio[s:e]) for s, e in windows if e > s]
        begin = 0
        for end in _plan(pieces) if vad else range(1, len(pieces) + 1):
            yield make(pieces[begin:end])
            begin = end
    yield SourceDone(source, tuple(regions), round(total, 3))
