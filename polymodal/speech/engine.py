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
from dataclasses import dataclass
from typing import Any

import numpy as np

from polymodal.catalog import ResolvedModel
from polymodal.config import pick_device, settings
from polymodal.errors import BadInputError, ModelUnavailableError
from polymodal.speech.chunks import Chunk, SourceDone, SourceWindows
from polymodal.speech.generate import generate, is_silence, needs_fallback, retry
from polymodal.speech.options import DecodeOptions
from polymodal.speech.tokens import complete_part, split_segments

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
    from faster_whisper import WhisperModel

    device = pick_device(device)
    if device not in ("cpu", "cuda"):
        device = "cpu"  # CTranslate2 has no MPS backend
    compute_type = _compute_type(compute_type, device)
    threads = threads or settings().threads
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
    """One chunk's segments as dicts with times already mapped to the source's timeline, and
    its source's language with the probability it was detected with (1.0 when given)."""

    chunk: Chunk
    segments: list[dict]
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
    sources can finish out of order. A source's language is detected from its first window
    (unless ``options.language`` gives it) and kept for the rest of that source.
    """
    waiting = iter(sources)
    languages: dict[int, tuple[str, float]] = {}
    active: list[SourceWindows] = []
    context: dict[int, list[int]] = {}
    while True:
        batch, finished = _next_batch(active, waiting, options.batch_size)
        for done in finished:
            context.pop(done.source, None)
            languages.pop(done.source, None)
            yield done
        if not batch:
            return
        windows = [window for _, window in batch]
        results = _decode_windows(engine, windows, options, languages, context)
        for (source, _), (decoded, consumed) in zip(batch, results, strict=True):
            yield decoded
            source.advance(consumed)


def _next_batch(active: list[SourceWindows], waiting: Iterator, size: int):
    """The next window of every active source, topped up with new sources to ``size``; and
    the :class:`SourceDone` of sources that ran out."""
    batch: list[tuple[SourceWindows, Chunk]] = []
    finished: list[SourceDone] = []
    for source in list(active):
        window = source.window()
        if window is None:
            active.remove(source)
            finished.append(source.done)
        else:
            batch.append((source, window))
    while len(batch) < size:
        items = next(waiting, None)
        if items is None:
            break
        source = SourceWindows(items)
        window = source.window()
        if window is None:
            finished.append(source.done)
        else:
            active.append(source)
            batch.append((source, window))
    return batch, finished


def _decode_windows(engine, windows, options, languages, context) -> list[tuple[Decoded, float]]:
    """Decode windows in groups of equal prompt length (CTranslate2's batched decoder needs
    that): with ``condition_on_previous_text`` each source is prompted with its own earlier text,
    as Whisper does; without it, every prompt is the same and the batch is one group."""
    tokenizer = tokenizer_for(engine, options.language or "en", options.task)
    previous = [_previous_tokens(w, tokenizer, options, context) for w in windows]
    groups: dict[int, list[int]] = {}
    for index, tokens in enumerate(previous):
        groups.setdefault(len(tokens), []).append(index)
    results: list = [None] * len(windows)
    for indices in groups.values():
        group = [windows[i] for i in indices]
        prompts = [previous[i] for i in indices]
        decoded = _decode_group(engine, group, prompts, options, languages, context)
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


def _detect(engine, encoder_output, chunks, options, languages) -> None:
    """Fill in languages of new sources from this batch's encoder output (no extra pass)."""
    if options.language:
        for chunk in chunks:
            languages.setdefault(chunk.source, (options.language, 1.0))
        return
    unknown = {c.source for c in chunks} - set(languages)
    if not unknown:
        return
    detected = engine.model.model.detect_language(encoder_output)
    votes: dict[int, dict[str, float]] = {}
    weights: dict[int, float] = {}
    for chunk, ranking in zip(chunks, detected, strict=True):
        if chunk.source not in unknown:
            continue
        tally = votes.setdefault(chunk.source, {})
        for token, probability in ranking:
            tally[token[2:-2]] = tally.get(token[2:-2], 0.0) + probability * chunk.duration
        weights[chunk.source] = weights.get(chunk.source, 0.0) + chunk.duration
    for source, tally in votes.items():
        language = max(tally, key=tally.__getitem__)
        languages[source] = (language, round(tally[language] / weights[source], 4))


_tokenizers: dict[tuple, Any] = {}


def tokenizer_for(engine: WhisperEngine, language: str, task: str):
    from faster_whisper.tokenizer import Tokenizer

    key = (id(engine.model), language, task)
    if key not in _tokenizers:
        _tokenizers[key] = Tokenizer(
            engine.model.hf_tokenizer, engine.multilingual, task=task, language=language
        )
    return _tokenizers[key]


def _decode_group(engine, windows, previous, options, languages, context):
    """One encoder pass and one decoder pass over windows; ``(segments, seconds consumed)``
    for each (fallbacks decode a failed window again on its own)."""
    frames = context_frames(windows, options.full_audio_context)
    features = _features(engine, windows, frames)
    encoder_output = engine.model.encode(features)
    _detect(engine, encoder_output, windows, options, languages)
    tokenizers = [tokenizer_for(engine, languages[w.source][0], options.task) for w in windows]
    outputs = generate(engine, encoder_output, tokenizers, previous, options)
    decoded, consumed = [], []
    for index, (window, output) in enumerate(zip(windows, outputs, strict=True)):
        if options.fallback and needs_fallback(output, options):
            piece = features[index : index + 1]
            output = retry(engine, piece, tokenizers[index], previous[index], options, output)
        seek = None
        if is_silence(output, options):
            context.pop(window.source, None)
            decoded.append([])
        else:
            output, seek = complete_part(output, tokenizers[index])
            _remember(context, window.source, previous[index], output, tokenizers[index], options)
            decoded.append(split_segments(output, tokenizers[index], window.duration))
        # A window Whisper made no progress in is consumed whole, so decoding always ends.
        consumed.append(seek if seek is not None and seek > 0 else window.duration)
    if options.word_timestamps:
        _add_words(engine, decoded, windows, tokenizers[0], encoder_output, frames)
    return [
        (Decoded(w, _to_original(w, segments), *languages[w.source]), used)
        for w, segments, used in zip(windows, decoded, consumed, strict=True)
    ]


def _previous_tokens(window, tokenizer, options, context) -> list[int]:
    """A window's prompt: what its source said before (with ``condition_on_previous_text``),
    else the initial prompt; at most half of Whisper's context."""
    initial = (
        tokenizer.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
    )
    tokens = context.get(window.source, initial)
    return tokens[-MAX_PROMPT_TOKENS:] if tokens else []


def _remember(context, source, previous, output, tokenizer, options) -> None:
    """Carry this chunk's text into the next one's prompt, unless it looks like a loop or came
    from sampling (Whisper resets its prompt then, so one bad chunk doesn't poison the rest)."""
    if not options.condition_on_previous_text:
        return
    threshold = options.compression_ratio_threshold
    if output.get("sampled") or (threshold is not None and output["compression_ratio"] > threshold):
        context.pop(source, None)
        return
    tokens = [t for t in output["tokens"] if t != tokenizer.eot]  # timestamps stay, as Whisper
    context[source] = (previous + tokens)[-MAX_PROMPT_TOKENS:]


def _add_words(engine, decoded, chunks, tokenizer, encoder_output, frames: int) -> None:
    """Word timings by cross-attention alignment (faster-whisper's DTW), chunk-local times."""
    sizes = [int(np.ceil(c.duration) * engine.model.frames_per_second) for c in chunks]
    filled = [i for i, segments in enumerate(decoded) if segments]
    if not filled:
        return
    if len(filled) < len(chunks):
        import ctranslate2

        array = np.asarray(encoder_output) if engine.device == "cpu" else None
        if array is None:  # on GPU re-encode the chunks that have text
            encoder_output = engine.model.encode(
                _features(engine, [chunks[i] for i in filled], frames)
            )
        else:
            encoder_output = ctranslate2.StorageView.from_array(np.ascontiguousarray(array[filled]))
    engine.model.add_word_timestamps(
        [decoded[i] for i in filled],
        tokenizer,
        encoder_output,
        [sizes[i] for i in filled],
        "\"'“¿([{-",
        "\"'.。,，!！?？:：”)]}、",
        0.0,
    )


def _to_original(chunk: Chunk, segments: list[dict]) -> list[dict]:
    """Chunk-local times to the source timeline; words decide which piece a segment is in."""
    mapped = []
    for segment in segments:
        words = []
        for word in segment.get("words", []):
            start, end = chunk.map_span(word["start"], word["end"])
            words.append({**word, "start": start, "end": end})
        if words:
            start, end = words[0]["start"], words[-1]["end"]
        else:
            start = chunk.to_original(segment["start"])
            end = chunk.to_original(segment["end"], is_end=True)
        mapped.append({**segment, "start": start, "end": max(end, start), "words": words})
    return mapped
