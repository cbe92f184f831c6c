"""Suspect flags: reasons to doubt a segment's text without listening to the audio.

Whisper invents text in known ways: it loops ("the the the"), writes generic sign-offs learnt
from video subtitles on silence ("thanks for watching"), and places words where nobody spoke.
Each check is cheap and independent, so a segment carries every reason that applies; callers
drop or highlight suspect segments (``--drop-suspect``), and JSON always shows them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True)
class SuspectThresholds:
    """Limits beyond which Whisper's own scores make a segment suspect (``None``: off)."""

    compression_ratio: float | None = 2.4
    log_prob: float | None = -1.0
    no_speech: float | None = 0.6
    min_speech_overlap: float = 0.3


def normalise(text: str) -> str:
    """Lower case words joined by single spaces, punctuation dropped."""
    return " ".join(_WORD.findall(text.lower().replace("’", "'")))


@lru_cache(maxsize=1)
def stock_patterns() -> tuple[re.Pattern[str], ...]:
    """The stock phrases from ``data/stock_phrases.txt`` as whole-segment patterns."""
    text = resources.files("polymodal.speech").joinpath("data/stock_phrases.txt").read_text("utf-8")
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [normalise(part) for part in line.split("*")]
        body = r".*".join(re.escape(part) for part in parts)
        if len(line.split()) >= 3:
            body = rf"(?:\S+ ){{0,2}}{body}(?: \S+){{0,2}}"
        patterns.append(re.compile(rf"\s*{body}\s*"))
    return tuple(patterns)


def is_stock_phrase(text: str) -> bool:
    words = normalise(text)
    return bool(words) and any(p.fullmatch(words) for p in stock_patterns())


def has_repetition(text: str) -> bool:
    """A word repeated 4+ times in a row, or a 2–6 word phrase 3+ times in a row."""
    words = normalise(text).split()
    for size in range(1, 7):
        needed = 4 if size == 1 else 3
        for start in range(len(words) - size * needed + 1):
            gram = words[start : start + size]
            if all(words[start + k * size : start + (k + 1) * size] == gram for k in range(needed)):
                return True
    return False


def speech_overlap(start: float, end: float, regions: Sequence[tuple[float, float]]) -> float:
    """The fraction of ``[start, end]`` that voice-activity detection heard as speech."""
    if end <= start:
        return 1.0 if any(s <= start <= e for s, e in regions) else 0.0
    covered = sum(max(0.0, min(end, e) - max(start, s)) for s, e in regions)
    return min(covered / (end - start), 1.0)


def suspect_reasons(
    text: str,
    start: float,
    end: float,
    *,
    avg_logprob: float,
    compression_ratio: float,
    no_speech_prob: float,
    speech: Sequence[tuple[float, float]] | None,
    thresholds: SuspectThresholds = SuspectThresholds(),
    loop: bool = False,
) -> tuple[str, ...]:
    """Every reason this segment's text may be invented; empty when it looks sound.

    ``speech`` holds VAD's speech regions near the segment (``None`` when VAD did not run);
    ``loop`` says the decoder's last-resort guard cut a repetition loop out of its window
    (``generate.guard_loop``): such a segment is left out of text and subtitles by default.
    """
    reasons = ["loop"] if loop else []
    if has_repetition(text):
        reasons.append("repetition")
    if (
        thresholds.compression_ratio is not None
        and compression_ratio > thresholds.compression_ratio
    ):
        reasons.append("compression_ratio")
    if thresholds.log_prob is not None and avg_logprob < thresholds.log_prob:
        reasons.append("low_logprob")
    if thresholds.no_speech is not None and no_speech_prob > thresholds.no_speech:
        reasons.append("no_speech")
    if speech is not None and speech_overlap(start, end, speech) < thresholds.min_speech_overlap:
        reasons.append("outside_speech")
    if is_stock_phrase(text):
        reasons.append("stock_phrase")
    return tuple(reasons)
