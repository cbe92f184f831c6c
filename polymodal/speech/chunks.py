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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from polymodal.media.audio import SAMPLE_RATE, level_pairs
from polymodal.speech.options import DecodeOptions

CHUNK_SECONDS = 30.0
_CARRY_MARGIN = 1.0  # seconds at a block's end that may hold an onset VAD has not seen whole
_MIN_WINDOW_SECONDS = 0.1  # a remainder shorter than this holds no word
_MAX_REGION_SECONDS = 60.0  # well under a decoded block (media.audio), so carries stay small
_MIN_SPEECH_MS = 100
_RECHECK_MIN_SPEECH_MS = 250
_RECHECK_NEG_THRESHOLD = 0.1  # Silero's own rule (threshold - 0.15) would be 0.0 at 0.15
_CUT_SEARCH_SECONDS = 10.0  # a full window ends at the quietest moment of its last 10 s
_CUT_FRAME = SAMPLE_RATE // 5  # 200 ms frames: a pause between words, not inside one
_CUT_QUIET = 0.25  # a frame this far under the window's median RMS is a pause (-12 dB)

Region = tuple[float, float]


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

    def local(self, t: float) -> float:
        """Map a time of the source file to this chunk's own time (clamped to the chunk)."""
        offsets = self._offsets()
        for (start, length), local in zip(self.pieces, offsets, strict=True):
            if t < start + length:
                return round(local + max(t - start, 0.0), 3)
        return self.duration

    def between(self, start: float, end: float) -> Chunk:
        """The part of this chunk between two times of the source file."""
        first = self.local(start)
        return self.after(first).before(self.local(end) - first)

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

    ``regions`` is all the speech VAD heard in it; ``error`` is set when the source failed part
    way (its earlier chunks are then void).
    """

    source: int
    regions: tuple[Region, ...] = ()
    duration: float = 0.0
    error: Exception | None = None


def _vad_options(threshold: float, neg_threshold: float | None, min_ms: int):
    from faster_whisper.vad import VadOptions

    # Faster-whisper's sequential settings: only pauses over 2 s are cut out, each region keeping
    # 400 ms of padding. Cutting pauses down to 160 ms (its batched setting) ran words together
    # at the joins: 0.106 word error rate instead of 0.029 on the benchmark passage. Regions are
    # split after 60 s (at a short pause) so that talk with no 2 s pause cannot make a block's
    # carried-over region, and memory, grow without end.
    # A region needs 100 ms over the threshold (250 ms at the recheck's lower threshold): the
    # shorter blips were pink noise (onset transients, single frames at 0.15-0.26), not words.
    return VadOptions(
        threshold=threshold,
        neg_threshold=neg_threshold,
        min_speech_duration_ms=min_ms,
        max_speech_duration_s=_MAX_REGION_SECONDS,
    )


def _silero(
    audio: np.ndarray, threshold: float, neg: float | None = None, min_ms: int = _MIN_SPEECH_MS
) -> list[tuple[int, int]]:
    from faster_whisper.vad import get_speech_timestamps

    found = get_speech_timestamps(audio, _vad_options(threshold, neg, min_ms))
    return [(r["start"], r["end"]) for r in found]


def _merge(regions: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(regions):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def heard_speech(
    audio: np.ndarray, levelled: np.ndarray | None, options: DecodeOptions
) -> list[tuple[int, int]]:
    """Speech in one block, in samples: what Silero hears in the audio as recorded or levelled.

    Why both, and why two thresholds (AMI far-field excerpts, 158 s of reference speech; pink
    noise at 0.001-0.5 peak): Silero at its 0.5 default kept 90.2 % of the reference speech and
    heard nothing at all of trn02; at 0.25 on the levelled audio 92.7 %, on both 94.6 %; adding
    what a second listen at 0.15 (``vad_recheck_threshold``) finds outside it, 95.9 %. Pink noise
    stayed empty in those trials, but not in 7 of 60 later ones until the leveller stopped
    lifting steady sounds (``tests/speech/test_speech_chunks.py``). Levelling alone lost half
    of trn07 (7.1 s -> 3.1 s): lifting its room tone made the talk less distinct to Silero,
    hence the union.
    """
    sources = [audio] if levelled is None else [audio, levelled]
    listens = [(a, options.vad_threshold, None, _MIN_SPEECH_MS) for a in sources]
    recheck = options.vad_recheck_threshold
    rechecking = recheck is not None and recheck < options.vad_threshold
    if rechecking:  # the levelled audio when there is one
        neg = min(_RECHECK_NEG_THRESHOLD, recheck)
        listens.append((sources[-1], recheck, neg, _RECHECK_MIN_SPEECH_MS))
    found = _listen_in_parallel(listens)
    heard = _merge(r for regions in found[: len(sources)] for r in regions)
    if not rechecking:
        return heard
    extra = [(s, e) for s, e in found[-1] if not any(s < he and hs < e for hs, he in heard)]
    return _merge(heard + extra)


def _listen_in_parallel(listens: list[tuple]) -> list[list[tuple[int, int]]]:
    """Silero over each ``(audio, threshold, neg, min_ms)`` at once, in threads.

    faster-whisper's Silero session runs on one core, and up to three listens run per block
    (recorded, levelled, the recheck): run one after another they took 0.67 s per minute of
    audio here, a tenth of the whole transcription; ONNX Runtime releases the GIL, so threads
    spread them over the cores.
    """
    if len(listens) == 1:
        return [_silero(*listens[0])]
    with ThreadPoolExecutor(max_workers=len(listens)) as pool:
        return list(pool.map(lambda listen: _silero(*listen), listens))


def _block_regions(blocks: Iterable[np.ndarray], options: DecodeOptions) -> Iterator[tuple]:
    """Per block: ``(recorded, audio, offset_s, windows, speech)``, carrying open regions.

    ``audio`` is what gets decoded (levelled when ``level_audio``), ``recorded`` the same
    stretch as it came; ``speech`` (samples) is what VAD heard; ``windows`` what gets decoded:
    the speech itself, or plain 30 s windows when VAD filtering is off (speech is still found,
    for the suspect flags).
    """
    pairs = level_pairs(blocks) if options.level_audio else ((b, None) for b in blocks)
    carry: tuple[np.ndarray, np.ndarray | None] | None = None
    offset = 0.0
    current = next(pairs, None)
    step = int(CHUNK_SECONDS * SAMPLE_RATE)
    while current is not None:
        following = next(pairs, None)
        recorded, levelled = current
        if carry is not None:
            recorded = np.concatenate([carry[0], recorded])
            levelled = None if levelled is None else np.concatenate([carry[1], levelled])
        speech = heard_speech(recorded, levelled, options)
        cut = recorded.size
        if following is not None:
            if options.vad:
                margin = recorded.size - int(_CARRY_MARGIN * SAMPLE_RATE)
                cut = min([margin, *(s for s, e in speech if e >= margin)])
            else:
                cut = (recorded.size // step) * step or recorded.size
            speech = [(s, min(e, cut)) for s, e in speech if s < cut]
        windows = speech if options.vad else [(s, min(s + step, cut)) for s in range(0, cut, step)]
        # Whisper decodes the levelled audio too. Decoding the recording as it came instead was
        # tried and measured (bench/real_speech.py --quick): short quiet clips gained (FLEURS
        # pt 0.53 -> 0.27 word error rate, fr 0.22 -> 0.16) but a joined recording lost words
        # (3.9 min: 0.027 -> 0.052 against 0.025 one by one) and a German half after English
        # (hits 0.85 -> 0.46): Whisper's features floor everything 80 dB under a window's
        # loudest bin, so a quiet voice beside a loud one needs the levelling.
        audio = recorded if levelled is None else levelled
        yield recorded[:cut], audio[:cut], offset, windows, speech
        carry = (recorded[cut:], None if levelled is None else levelled[cut:])
        offset += cut / SAMPLE_RATE
        current = following


def speech_regions(
    audio: np.ndarray | Iterable[np.ndarray], options: DecodeOptions | None = None
) -> tuple[Region, ...]:
    """Speech stretches of a waveform (or a stream of blocks) as ``(start, end)`` seconds:
    the same regions transcription hears with these options (levelled, rechecked)."""
    blocks = [audio] if isinstance(audio, np.ndarray) else audio
    found: list[Region] = []
    for _, _, offset, _, speech in _block_regions(blocks, options or DecodeOptions()):
        found.extend(_seconds(offset, s, e) for s, e in speech)
    return tuple(found)


def _seconds(offset: float, start: int, end: int) -> Region:
    return (round(offset + start / SAMPLE_RATE, 3), round(offset + end / SAMPLE_RATE, 3))


def join(chunks: list[Chunk]) -> Chunk:
    """One chunk made of consecutive chunks of one source."""
    if len(chunks) == 1:
        return chunks[0]
    speech = tuple(dict.fromkeys(r for c in chunks for r in c.speech))
    pieces = tuple(p for c in chunks for p in c.pieces)
    audio = np.concatenate([c.audio for c in chunks])
    return Chunk(chunks[0].source, audio, pieces, speech)


SpeechListener = Callable[[np.ndarray, float, list[Region]], None]


def speech_pieces(
    blocks: Iterable[np.ndarray],
    source: int = 0,
    options: DecodeOptions | None = None,
    *,
    on_speech: SpeechListener | None = None,
) -> Iterator[Chunk | SourceDone]:
    """One source's speech as single-piece chunks, then a :class:`SourceDone` with all speech
    regions. Without VAD filtering (``options.vad``) the pieces are plain 30 s stretches.

    ``on_speech(audio, offset, regions)`` hears every block once, as recorded (not levelled),
    with where it starts and the speech VAD found in it (seconds in the source), before the
    block's chunks are yielded: the speaker labeller listens here, so transcription and
    diarization share one VAD pass.
    """
    options = options or DecodeOptions()
    regions: list[Region] = []
    total = 0.0
    for recorded, audio, offset, windows, speech in _block_regions(blocks, options):
        total = offset + audio.size / SAMPLE_RATE
        found = [_seconds(offset, s, e) for s, e in speech]
        regions.extend(found)
        if on_speech is not None:
            on_speech(recorded, offset, found)
        for s, e in windows:
            if e <= s:
                continue
            start, end = offset + s / SAMPLE_RATE, offset + e / SAMPLE_RATE
            near = tuple(r for r in regions if r[1] >= start and r[0] <= end)
            yield Chunk(source, audio[s:e], ((round(start, 3), (e - s) / SAMPLE_RATE),), near)
    yield SourceDone(source, tuple(regions), round(total, 3))


def cut_point(audio: np.ndarray) -> float:
    """Where a window over 30 s of speech ends: at the quietest 200 ms of its last 10 s when
    that is a pause (12 dB under the window's median), else at 30 s (the decoder then resumes
    at its last complete segment). Cutting at a pause keeps words whole on both sides, so the
    decoder ends its text there instead of leaving a sentence open."""
    limit = int(CHUNK_SECONDS * SAMPLE_RATE)
    frames = audio[: limit // _CUT_FRAME * _CUT_FRAME].reshape(-1, _CUT_FRAME)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    first = int((CHUNK_SECONDS - _CUT_SEARCH_SECONDS) * SAMPLE_RATE) // _CUT_FRAME
    quietest = first + int(np.argmin(rms[first:]))
    if rms[quietest] > _CUT_QUIET * float(np.median(rms)):
        return CHUNK_SECONDS
    return (quietest + 0.5) * _CUT_FRAME / SAMPLE_RATE


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
        """The next window, or ``None`` when the source is used up (``done`` is then set).

        Only a window longer than 30 s by more than a sliver is cut (:func:`cut_point`): a
        30 s recording one sample over (every AMI excerpt here: 480,001 samples) is decoded
        whole, as faster-whisper decodes it (the encoder reads 3,000 frames either way). Cut
        at its quietest 200 ms, 28.7 s, trn09 lost words far from the cut ("As long as she
        admits it then that's fine" at 15-17 s): 90 words, whole 102, plain faster-whisper 103.
        """
        self._fill()
        while self._buffer and self._buffer[0].duration < _MIN_WINDOW_SECONDS:
            self._buffer.pop(0)  # a sliver Whisper could not hear a word in
        if not self._buffer:
            return None
        joined = join(self._buffer)
        if joined.duration < CHUNK_SECONDS + _MIN_WINDOW_SECONDS:
            return joined
        return joined.before(cut_point(joined.audio))

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
