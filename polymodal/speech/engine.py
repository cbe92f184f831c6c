"""The faster-whisper (CTranslate2) engine: loading, and decoding windows of speech in batches.

Each source is read as Whisper reads it (30 s windows, the next one starting where the last
complete segment ended), and faster-whisper's decoder settings are used unchanged, so the words
match plain faster-whisper's (short windows aside, see below). Why our own loop instead of
``WhisperModel.transcribe``: the current windows of many files (short clips in a folder) go
through the encoder and decoder together, the language is read from the same encoder output
that decoding uses (plain faster-whisper runs the encoder a second time just to detect it),
silence has been cut out before decoding, the temperature fallback runs only for windows that
fail Whisper's checks, and a short window is encoded at its own length plus a margin instead of
a padded 30 s (:func:`context_frames`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from polymodal.catalog import ResolvedModel
from polymodal.config import pick_device, settings
from polymodal.errors import BadInputError, ModelUnavailableError
from polymodal.speech.chunks import Chunk, SourceDone, SourceWindows
from polymodal.speech.generate import (
    Hypothesis,
    generate,
    guard_loop,
    is_silence,
    needs_fallback,
    retry,
)
from polymodal.speech.languages import after_cut, window_languages
from polymodal.speech.options import DecodeOptions
from polymodal.speech.tokens import DecodedSegment, complete_part, split_segments
from polymodal.speech.words import add_words, encoder_rows

MAX_PROMPT_TOKENS = 223  # Whisper keeps half its 448-token context for previous text
FULL_CONTEXT_FRAMES = 3000  # Whisper's 30 s of 10 ms mel frames
CONTEXT_MARGIN_SECONDS = 5.0  # padding after a short window's speech (see context_frames)
_CONTEXT_STEP_SECONDS = 5.0
_FRAMES_PER_SECOND = 100


@dataclass(frozen=True)
class WhisperEngine:
    """A loaded Whisper model and what callers need to know about it."""

    model: Any  # faster_whisper.WhisperModel
    name: str
    device: str

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)


#: The seed of the temperature fallback's sampling (any fixed value; see :func:`load_whisper`).
SAMPLING_SEED = 0


def load_whisper(
    resolved: ResolvedModel,
    *,
    device: str = "auto",
    compute_type: str | None = None,
    threads: int = 0,
) -> WhisperEngine:
    """The catalogue's loader for family ``whisper``: int8 on CPU, float16 on CUDA.

    int8 is the CPU default for speed (1.2-1.6x float32 here). It costs a little accuracy:
    on 40 espeak-ng clips plain faster-whisper made 32 word errors in int8 against 29 in
    float32 (ours: 33), so ``compute_type="float32"`` is there for the last word.
    """
    import ctranslate2
    from faster_whisper import WhisperModel

    device = pick_device(device)
    if device not in ("cpu", "cuda"):
        device = "cpu"  # CTranslate2 has no MPS backend
    compute_type = _compute_type(compute_type, device)
    threads = threads or settings().threads
    # The temperature fallback samples from CTranslate2's random generators, which each worker
    # thread seeds once, from this seed, at its first draw; unset, the seed is random per
    # process and the same file read differently from run to run (AMI trn07: 10, 18 or 22
    # words). Fixed, a process gives the same text for the same sequence of calls.
    ctranslate2.set_random_seed(SAMPLING_SEED)
    try:
        model = WhisperModel(
            str(resolved.path), device=device, compute_type=compute_type, cpu_threads=threads
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelUnavailableError(
            f"Cannot load Whisper model '{resolved.spec.name}' from {resolved.path}: {exc}"
        ) from exc
    return WhisperEngine(model, resolved.spec.name, device)


def _compute_type(asked: str | None, device: str) -> str:
    """``asked`` checked against what CTranslate2 offers on ``device``; ``None``/``auto`` pick."""
    import ctranslate2

    if asked in (None, "auto", "default"):
        return "float16" if device == "cuda" else "int8"
    offered = sorted(ctranslate2.get_supported_compute_types(device))
    if asked not in offered:
        raise BadInputError(
            f"Compute type '{asked}' is not available on {device}: "
            f"use one of {', '.join(offered)}.",
            param="compute_type",
        )
    return asked


@dataclass(frozen=True)
class Decoded:
    """One window's segments, times already mapped to the source's timeline, and the window's
    language with the probability it was detected with (1.0 when given)."""

    chunk: Chunk
    segments: tuple[DecodedSegment, ...]
    language: str
    language_probability: float


def decode(
    engine: WhisperEngine,
    sources: Iterable[Iterator[Chunk | SourceDone]],
    options: DecodeOptions,
) -> Iterator[Decoded | SourceDone]:
    """Decode sources in lockstep: each step decodes the current window of up to
    ``batch_size`` sources together (a source has one window in flight, since its next window
    starts where this one's decoding ended). ``sources`` are :func:`speech_pieces` streams.

    Yields each window's segments and, after a source's last window, its :class:`SourceDone`;
    sources can finish out of order. Unless ``options.language`` gives it, every window's
    language is detected on its own (``languages``), so each part of a file is decoded in the
    language it speaks; a window where the language changes ends there.
    """
    waiting = iter(sources)
    active: list[SourceWindows] = []
    ready: list[_Ready] = []
    context: dict[int, tuple[str, list[int]]] = {}  # source -> (language, prompt tokens)
    spoken: dict[int, str] = {}  # source -> the language of its last window
    while True:
        batch, finished = _next_batch(active, waiting, ready, options)
        for done in finished:
            context.pop(done.source, None)
            spoken.pop(done.source, None)
            yield done
        if not batch:
            return
        windows = [window for _, window in batch]
        results = _decode_windows(engine, windows, options, context, spoken)
        for (source, _), (decoded, consumed) in zip(batch, results, strict=True):
            yield decoded
            source.advance(consumed)


#: Sources opened ahead of the batch (per batch slot), so batch-mates can be picked by context.
LOOKAHEAD = 1
#: Batches a waiting source may be passed over before it is taken whatever its context.
MAX_PASSED_OVER = 2


@dataclass
class _Ready:
    """A source opened ahead of its turn: its first window and the context it is encoded with."""

    source: SourceWindows
    window: Chunk
    frames: int
    passed_over: int = 0


def _next_batch(active: list[SourceWindows], waiting: Iterator, ready: list[_Ready], options):
    """The next window of every active source, topped up to ``batch_size`` with sources opened
    ahead (``ready``), preferring those whose window gets the same encoder context as the
    batch's; and the :class:`SourceDone` of sources that ran out.

    Why choose: windows are decoded in groups of one context (:func:`_decode_windows`), so a
    batch of mixed lengths would split into small passes (a folder of 5-15 s clips falls in
    three). Picking from a lookahead keeps the passes full; a source passed over
    :data:`MAX_PASSED_OVER` times is taken next, so none waits for ever.
    """
    size, full = options.batch_size, options.full_audio_context
    batch: list[tuple[SourceWindows, Chunk]] = []
    finished: list[SourceDone] = []
    for source in list(active):
        window = source.window()
        if window is None:
            active.remove(source)
            finished.append(source.done)
        else:
            batch.append((source, window))
    _open_ahead(ready, waiting, size * (1 + LOOKAHEAD), finished, full)
    contexts = [context_frames([window], full) for _, window in batch]
    while len(batch) < size and ready:
        chosen = _choose(ready, contexts)
        ready.remove(chosen)
        active.append(chosen.source)
        batch.append((chosen.source, chosen.window))
        contexts.append(chosen.frames)
        _open_ahead(ready, waiting, size * (1 + LOOKAHEAD), finished, full)
    if len(batch) == size:
        for entry in ready:
            entry.passed_over += 1
    return batch, finished


def _open_ahead(ready: list[_Ready], waiting: Iterator, count: int, finished, full) -> None:
    """Open waiting sources until ``count`` are ready (a source with no speech finishes here)."""
    while len(ready) < count:
        items = next(waiting, None)
        if items is None:
            return
        source = SourceWindows(items)
        window = source.window()
        if window is None:
            finished.append(source.done)
        else:
            ready.append(_Ready(source, window, context_frames([window], full)))


def _choose(ready: list[_Ready], contexts: list[int]) -> _Ready:
    """The ready source to batch next: one passed over too often, else the first whose context
    is the batch's commonest (or, for an empty batch, the commonest among the ready)."""
    for entry in ready:
        if entry.passed_over >= MAX_PASSED_OVER:
            return entry
    pool = contexts or [entry.frames for entry in ready]
    wanted = max(pool, key=pool.count)  # ties: the earliest
    return next((entry for entry in ready if entry.frames == wanted), ready[0])


def _decode_windows(engine, windows, options, context, spoken) -> list[tuple[Decoded, float]]:
    """Decode windows in groups of equal prompt length (CTranslate2's batched decoder needs
    that) and equal encoder context: with ``condition_on_previous_text`` each source is prompted
    with its own earlier text, as Whisper does; without it, every prompt is the same.

    Why the context too: the encoder reads as many frames as the group's longest window needs
    (:func:`context_frames`), so a short clip batched with a long file was read with more
    padding and could be worded differently ("milk and eggs" became "milk and then" beside a
    16 s file); a file's words then depended on its batch-mates, and a resumed folder run, a
    Ray run or a server batch could word it differently. Grouped by the context each window
    would get alone, a window reads the same in any batch (a window cut at a language change
    is encoded again with its group, the one case left)."""
    tokenizer = tokenizer_for(engine, options.language or "en", options.task)
    previous = [_previous_tokens(w, tokenizer, options, context) for w in windows]
    groups: dict[tuple[int, int], list[int]] = {}
    for index, (tokens, window) in enumerate(zip(previous, windows, strict=True)):
        frames = context_frames([window], options.full_audio_context)
        groups.setdefault((len(tokens), frames), []).append(index)
    results: list = [None] * len(windows)
    for indices in groups.values():
        group = [windows[i] for i in indices]
        prompts = [previous[i] for i in indices]
        decoded = _decode_group(engine, group, prompts, options, context, spoken)
        for index, item in zip(indices, decoded, strict=True):
            results[index] = item
    return results


def context_frames(windows: list[Chunk], full: bool = False) -> int:
    """Mel frames the encoder reads for a batch of windows: all 3000 (30 s) when ``full``,
    else the longest window plus :data:`CONTEXT_MARGIN_SECONDS`, rounded up to 5 s.

    Why the margin: the decoder must hear that speech has ended, or it leaves the last
    sentence open and the window is decoded again. Measured on four espeak-ng passages (562
    words) and 40 clips of 5-15 s, in word errors (passages / clips): full 30 s 23 / 33,
    margin 2 s 21 / 29, 5 s 23 / 32, 10 s 23 / 29; the clip folder took 48 s at 5 s against
    72-82 s at 30 s.
    """
    if full:
        return FULL_CONTEXT_FRAMES
    longest = max(w.duration for w in windows) + CONTEXT_MARGIN_SECONDS
    steps = int(np.ceil(longest / _CONTEXT_STEP_SECONDS))
    return min(FULL_CONTEXT_FRAMES, steps * int(_CONTEXT_STEP_SECONDS * _FRAMES_PER_SECOND))


def _features(engine: WhisperEngine, windows: list[Chunk], frames: int) -> np.ndarray:
    """Log-mel features of each window, padded with zeros to ``frames`` as faster-whisper pads
    them (padding the audio instead gave a different reading of short last windows: "feel
    natural" became "I'll leave it in the field" on one of our passages)."""
    from faster_whisper.audio import pad_or_trim

    extract = engine.model.feature_extractor
    return np.stack([pad_or_trim(extract(w.audio)[..., :-1], frames) for w in windows])


_tokenizers: dict[tuple, Any] = {}


def tokenizer_for(engine: WhisperEngine, language: str, task: str):
    from faster_whisper.tokenizer import Tokenizer

    key = (id(engine.model), language, task)
    if key not in _tokenizers:
        _tokenizers[key] = Tokenizer(
            engine.model.hf_tokenizer, engine.multilingual, task=task, language=language
        )
    return _tokenizers[key]


@dataclass(frozen=True)
class _Encoded:
    windows: list[Chunk]
    frames: int
    features: np.ndarray
    output: Any  # ctranslate2.StorageView


def _encode(engine, windows: list[Chunk], options: DecodeOptions) -> _Encoded:
    frames = context_frames(windows, options.full_audio_context)
    features = _features(engine, windows, frames)
    return _Encoded(windows, frames, features, engine.model.encode(features))


def _decode_group(engine, windows, previous, options, context, spoken):
    """One encoder pass and one decoder pass over windows; ``(Decoded, seconds consumed)``
    for each. A window where the language changes is cut there and the group encoded again
    (only then), and a window in another language than its source's last one is decoded
    unprompted (an English prompt made Whisper translate the Spanish after it); fallbacks
    decode a failed window again on its own."""
    before = [spoken.get(w.source) for w in windows]
    encoded = _encode(engine, windows, options)
    found = window_languages(engine, encoded.output, windows, options, before)
    if any(f.cut is not None for f in found):
        cut = [w if f.cut is None else w.before(f.cut) for w, f in zip(windows, found, strict=True)]
        encoded = _encode(engine, cut, options)
        found = after_cut(engine, encoded.output, found, before)
    windows = encoded.windows
    tokenizers = [tokenizer_for(engine, f.language, options.task) for f in found]
    previous = [
        [] if last not in (None, f.language) else p
        for last, f, p in zip(before, found, previous, strict=True)
    ]
    spoken.update((w.source, f.language) for w, f in zip(windows, found, strict=True))
    outputs = _generate(engine, encoded, tokenizers, previous, options)
    decoded, consumed = [], []
    for index, (window, output) in enumerate(zip(windows, outputs, strict=True)):
        segments, used = _finish_window(
            engine,
            encoded.features[index : index + 1],
            window,
            found[index].language,
            output,
            tokenizers[index],
            previous[index],
            options,
            context,
        )
        decoded.append(segments)
        consumed.append(used)
    if options.word_timestamps:
        decoded = add_words(
            engine, decoded, encoded.windows, encoded.features, encoded.output, tokenizers
        )
    else:
        decoded = _bound_sparse_segments(engine, decoded, encoded, tokenizers)
    return [
        (Decoded(w, _to_original(w, segments, f.language), f.language, f.probability), used)
        for w, segments, used, f in zip(windows, decoded, consumed, found, strict=True)
    ]


#: A segment at least this long that says fewer text tokens a second than
#: :data:`SPARSE_TOKENS_PER_SECOND` is bounded by its words (speech runs at 2.2-5.2 a second).
SPARSE_SEGMENT_SECONDS = 5.0
SPARSE_TOKENS_PER_SECOND = 1.5


def _sparse(segments: list[DecodedSegment]) -> bool:
    return any(
        s.end - s.start >= SPARSE_SEGMENT_SECONDS
        and len(s.tokens) < SPARSE_TOKENS_PER_SECOND * (s.end - s.start)
        for s in segments
    )


def _bound_sparse_segments(engine, decoded, encoded: _Encoded, tokenizers) -> list:
    """Segments that span far more audio than their words are cut to their words' extent.

    Why: Whisper's timestamp tokens can stretch one sentence over a whole window of speech it
    skipped (AMI trn07: "Did you guys actually had sort of interaction out?" over 8-30 s, 12
    tokens over 8.7 s of heard speech), so the coverage check (:mod:`polymodal.speech.coverage`)
    saw no untranscribed speech and nothing was decoded again. Word alignment on just those
    windows gives their true extent (the words are dropped again: nobody asked for them). On
    the real set (44 files, ``bench/real_speech.py``'s files): 1,837 -> 1,855 words, all on AMI
    meetings (trn07 9 -> 19, plain faster-whisper 24 inside the reference turns; trn05 49 ->
    57), no file's WER changed, no measurable time; word timing on every window found 1,878
    words at +14 % time.
    """
    sparse = [segments if _sparse(segments) else [] for segments in decoded]
    if not any(sparse):
        return decoded
    timed = add_words(engine, sparse, encoded.windows, encoded.features, encoded.output, tokenizers)
    return [
        [replace(s, words=()) for s in timed[i]] if sparse[i] else decoded[i]
        for i in range(len(decoded))
    ]


def _generate(engine, encoded: _Encoded, tokenizers, previous, options) -> list[Hypothesis]:
    """:func:`generate` over the group, split where prompts differ in length (a prompt dropped
    at a language change; CTranslate2's batch needs one length)."""
    by_length: dict[int, list[int]] = {}
    for index, tokens in enumerate(previous):
        by_length.setdefault(len(tokens), []).append(index)
    outputs: list = [None] * len(previous)
    for indices in by_length.values():
        seconds = max(encoded.windows[i].duration for i in indices)
        found = generate(
            engine,
            encoder_rows(engine, encoded.output, encoded.features, indices),
            [tokenizers[i] for i in indices],
            [previous[i] for i in indices],
            options,
            seconds,
        )
        for index, output in zip(indices, found, strict=True):
            outputs[index] = output
    return outputs


def _finish_window(
    engine, features, window, language, output, tokenizer, previous, options, context
):
    """One window's segments (window-local) and the seconds of it consumed: the fallback if
    its output fails the checks, the loop guard, then Whisper's rule for moving on."""
    if options.fallback and needs_fallback(output, options):
        output = retry(engine, features, tokenizer, previous, options, output, window.duration)
    if is_silence(output, options):
        context.pop(window.source, None)
        return [], window.duration
    if options.repetition_guard:
        output = guard_loop(output, tokenizer, options)
    seek = None
    if not output.loop:  # a loop is cut and its whole window consumed
        output, seek = complete_part(output, tokenizer)
    _remember(context, window.source, language, previous, output, tokenizer, options)
    # A window Whisper made no progress in is consumed whole, so decoding always ends.
    used = seek if seek is not None and seek > 0 else window.duration
    return split_segments(output, tokenizer, window.duration), used


def _previous_tokens(window, tokenizer, options, context) -> list[int]:
    """A window's prompt: what its source said before (with ``condition_on_previous_text``),
    else the initial prompt; at most half of Whisper's context."""
    initial = (
        tokenizer.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
    )
    tokens = context[window.source][1] if window.source in context else initial
    return tokens[-MAX_PROMPT_TOKENS:] if tokens else []


def _remember(context, source, language, previous, output: Hypothesis, tokenizer, options):
    """Carry this window's text into the next one's prompt, unless it looped or came from
    sampling (Whisper resets its prompt then, so one bad window doesn't poison the rest)."""
    if not options.condition_on_previous_text:
        return
    threshold = options.compression_ratio_threshold
    looped = output.loop or (threshold is not None and output.compression_ratio > threshold)
    if output.sampled or looped:
        context.pop(source, None)
        return
    tokens = [t for t in output.tokens if t != tokenizer.eot]  # timestamps stay, as Whisper
    context[source] = (language, (previous + tokens)[-MAX_PROMPT_TOKENS:])


def _to_original(chunk: Chunk, segments: list[DecodedSegment], language: str):
    """Window-local times to the source timeline; words decide which piece a segment is in."""
    mapped = []
    for segment in segments:
        words = []
        for word in segment.words:
            start, end = chunk.map_span(word.start, word.end)
            words.append(replace(word, start=start, end=end))
        if words:
            start, end = words[0].start, words[-1].end
        else:
            start = chunk.to_original(segment.start)
            end = chunk.to_original(segment.end, is_end=True)
        mapped.append(
            replace(
                segment, start=start, end=max(end, start), words=tuple(words), language=language
            )
        )
    return tuple(mapped)
