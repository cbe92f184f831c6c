"""Word timings for decoded windows: faster-whisper's cross-attention alignment (DTW) on our
segments, each window aligned with its own language's tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from polymodal.speech.chunks import Chunk
from polymodal.speech.results import Word
from polymodal.speech.tokens import DecodedSegment

_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


def add_words(
    engine,
    decoded: Sequence[list[DecodedSegment]],
    windows: Sequence[Chunk],
    features: np.ndarray,
    encoder_output,
    tokenizers: Sequence,
) -> list[list[DecodedSegment]]:
    """``decoded`` with word timings (window-local times); segment bounds follow the words, as
    faster-whisper adjusts them. Windows without text are skipped."""
    by_language: dict[int, list[int]] = {}
    for index, tokenizer in enumerate(tokenizers):
        if decoded[index]:
            by_language.setdefault(id(tokenizer), []).append(index)
    timed = list(decoded)
    for indices in by_language.values():
        output = encoder_rows(engine, encoder_output, features, indices)
        aligned = _align(engine, decoded, windows, indices, tokenizers[indices[0]], output)
        for index, segments in zip(indices, aligned, strict=True):
            timed[index] = segments
    return timed


def encoder_rows(engine, encoder_output, features: np.ndarray, indices: list[int]):
    """The encoder output of the windows at ``indices`` (all of it when that is every one)."""
    if len(indices) == len(features):
        return encoder_output
    if engine.device != "cpu":  # on GPU re-encode the windows wanted
        return engine.model.encode(features[indices])
    import ctranslate2

    array = np.asarray(encoder_output)
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(array[indices]))


def _align(engine, decoded, windows, indices, tokenizer, encoder_output):
    """faster-whisper's ``add_word_timestamps`` on our segments (it reads and adjusts dicts)."""
    fps = engine.model.frames_per_second
    sizes = [int(np.ceil(windows[i].duration) * fps) for i in indices]
    groups = [
        [{"seek": 0, "start": s.start, "end": s.end, "tokens": list(s.tokens)} for s in decoded[i]]
        for i in indices
    ]
    engine.model.add_word_timestamps(
        groups, tokenizer, encoder_output, sizes, _PREPEND, _APPEND, 0.0
    )
    return [
        [
            replace(segment, start=d["start"], end=d["end"], words=_words(d.get("words", [])))
            for segment, d in zip(decoded[i], group, strict=True)
        ]
        for i, group in zip(indices, groups, strict=True)
    ]


def _words(words: list[dict]) -> tuple[Word, ...]:
    return tuple(
        Word(float(w["start"]), float(w["end"]), w["word"], round(float(w["probability"]), 4))
        for w in words
    )
