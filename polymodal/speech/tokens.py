"""Whisper's output tokens to timed segments (text between timestamp tokens).

Written here rather than borrowed from faster-whisper's batched pipeline because that one drops
any text after the last timestamp pair; a chunk's tail must never disappear silently.
"""

from __future__ import annotations

from typing import Any

TIME_PRECISION = 0.02


def split_segments(output: dict, tokenizer: Any, duration: float) -> list[dict]:
    """Segments of one chunk's output, in chunk-local seconds, carrying the chunk's scores."""
    begin, eot = tokenizer.timestamp_begin, tokenizer.eot
    pieces: list[tuple[float, float, list[int]]] = []
    start: float | None = None
    last_end = 0.0
    text: list[int] = []
    for token in output["tokens"]:
        if token >= begin:
            t = min((token - begin) * TIME_PRECISION, duration)
            if text:
                pieces.append((start if start is not None else last_end, t, text))
                text, start, last_end = [], None, t
            else:
                start = t
        elif token < eot:
            text.append(token)
    if text:
        pieces.append((start if start is not None else last_end, duration, text))
    segments = []
    for seg_start, seg_end, seg_tokens in pieces:
        words = tokenizer.decode(seg_tokens)
        if not words.strip():
            continue
        segments.append(
            {
                "seek": 0,
                "start": seg_start,
                "end": max(seg_end, seg_start),
                "tokens": seg_tokens,
                "text": words,
                "avg_logprob": output["avg_logprob"],
                "no_speech_prob": output["no_speech_prob"],
                "compression_ratio": output["compression_ratio"],
            }
        )
    return segments


def complete_part(output: dict, tokenizer: Any) -> tuple[dict, float | None]:
    """Whisper's own rule for moving on: ``(output cut to its complete segments, seek time)``.

    Output that ends in a pair of timestamps, or in text after one, was cut short by the window's
    edge: it is kept up to its last pair of consecutive timestamps, and the next window starts at
    that time (chunk-local seconds). ``None`` means the window was read to its end.
    """
    tokens, begin = output["tokens"], tokenizer.timestamp_begin
    single_ending = len(tokens) >= 2 and tokens[-2] < begin <= tokens[-1]
    pairs = [i for i in range(1, len(tokens)) if tokens[i] >= begin and tokens[i - 1] >= begin]
    if single_ending or not pairs:
        return output, None
    last = pairs[-1]
    return {**output, "tokens": tokens[:last]}, (tokens[last - 1] - begin) * TIME_PRECISION
