"""Whisper's output tokens to timed segments (text between timestamp tokens), and loop cutting.

Written here rather than borrowed from faster-whisper's batched pipeline because that one drops
any text after the last timestamp pair; a window's tail must never disappear silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from polymodal.speech.results import Word

TIME_PRECISION = 0.02
MIN_LOOP_TOKENS = 16  # a repeat run covering fewer text tokens is speech ("no, no, no")
_MAX_LOOP_GRAM = 50  # the longest looping phrase looked for, in tokens


@dataclass(frozen=True)
class DecodedSegment:
    """One segment as the decoder produced it, before ids and suspect flags (``transcriber``).

    Times are window-local from :func:`split_segments` and in the source's timeline once the
    engine has mapped them; scores are the window's (Whisper scores a window, not a segment).
    """

    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float = 0.0
    loop: bool = False
    language: str | None = None
    words: tuple[Word, ...] = ()


def split_segments(output: Any, tokenizer: Any, duration: float) -> list[DecodedSegment]:
    """Segments of one window's :class:`~polymodal.speech.generate.Hypothesis`, in window-local
    seconds, carrying the window's scores; text after the last timestamp runs to ``duration``.
    Segments that reach into a loop the guard cut (``loop_from``) are marked ``loop``."""
    begin, eot = tokenizer.timestamp_begin, tokenizer.eot
    pieces: list[tuple[float, float, list[int], int]] = []
    start: float | None = None
    last_end = 0.0
    text: list[int] = []
    for index, token in enumerate(output.tokens):
        if token >= begin:
            t = min((token - begin) * TIME_PRECISION, duration)
            if text:
                pieces.append((start if start is not None else last_end, t, text, index))
                text, start, last_end = [], None, t
            else:
                start = t
        elif token < eot:
            text.append(token)
    if text:
        pieces.append(
            (start if start is not None else last_end, duration, text, len(output.tokens))
        )
    loop_from = output.loop_from
    segments = []
    for seg_start, seg_end, seg_tokens, seg_stop in pieces:
        words = tokenizer.decode(seg_tokens)
        if not words.strip():
            continue
        segments.append(
            DecodedSegment(
                start=seg_start,
                end=max(seg_end, seg_start),
                text=words,
                tokens=tuple(seg_tokens),
                avg_logprob=output.avg_logprob,
                no_speech_prob=output.no_speech_prob,
                compression_ratio=output.compression_ratio,
                temperature=output.temperature,
                loop=loop_from is not None and seg_stop > loop_from,
            )
        )
    return segments


def complete_part(output: Any, tokenizer: Any) -> tuple[Any, float | None]:
    """Whisper's own rule for moving on: ``(output cut to its complete segments, seek time)``.

    Output that ends in a pair of timestamps, or in text after one, was cut short by the window's
    edge: it is kept up to its last pair of consecutive timestamps, and the next window starts at
    that time (window-local seconds). ``None`` means the window was read to its end.
    """
    tokens, begin = output.tokens, tokenizer.timestamp_begin
    single_ending = len(tokens) >= 2 and tokens[-2] < begin <= tokens[-1]
    pairs = [i for i in range(1, len(tokens)) if tokens[i] >= begin and tokens[i - 1] >= begin]
    if single_ending or not pairs:
        return output, None
    last = pairs[-1]
    return replace(output, tokens=tuple(tokens[:last])), (tokens[last - 1] - begin) * TIME_PRECISION


def find_loop(tokens: Sequence[int]) -> tuple[int, int, int] | None:
    """The run of one n-gram repeated back to back that covers the most tokens, as
    ``(start, size, repeats)``; ``None`` when no n-gram repeats three times in a row."""
    best, covered = None, 0
    for size in range(1, min(_MAX_LOOP_GRAM, len(tokens) // 3) + 1):
        run = 0
        for j in range(len(tokens) - size):
            run = run + 1 if tokens[j] == tokens[j + size] else 0
            repeats = (run + size) // size
            if repeats >= 3 and repeats * size > covered:
                best, covered = (j + 1 - run, size, repeats), repeats * size
    return best


def cut_loop(
    tokens: Sequence[int], tokenizer: Any, *, compressed: bool
) -> tuple[tuple[int, ...], int] | None:
    """``(tokens cut after the second repeat of their looping n-gram, index where the loop
    starts)``, or ``None`` if they do not loop: a repeat run covering :data:`MIN_LOOP_TOKENS`
    text tokens or more (timestamps between repeats ignored), or half as many when the text
    compresses like a loop (``compressed``). Two repeats stay so that the reader sees what
    looped."""
    text_at = [i for i, t in enumerate(tokens) if t < tokenizer.eot]
    found = find_loop([tokens[i] for i in text_at])
    if found is None:
        return None
    start, size, repeats = found
    if repeats * size < (MIN_LOOP_TOKENS // 2 if compressed else MIN_LOOP_TOKENS):
        return None
    end = start + 2 * size
    kept = tuple(tokens[: text_at[end]]) if end < len(text_at) else tuple(tokens)
    return kept, text_at[start]
