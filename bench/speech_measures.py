"""Measures shared by the speech benchmarks: words, repeats, error rates, spans, and DER.

Text is compared as the field compares it: Whisper's English normaliser for English, its basic
normaliser for other languages, characters for Chinese and Japanese; diarization with
``pyannote.metrics`` (no collar, overlapped speech counted).
"""

from __future__ import annotations

import re
from pathlib import Path

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_CHARACTERS = ("zh", "ja")


def tokens(text: str, language: str) -> list[str]:
    """Lower-case words (characters for zh/ja), punctuation dropped: what is counted."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    return [c for w in words for c in w] if language in _CHARACTERS else words


def longest_repeat(words: list[str], longest_gram: int = 4) -> int:
    """Repeats in the longest back-to-back run of one n-gram (n <= ``longest_gram``)."""
    best = 1 if words else 0
    for n in range(1, longest_gram + 1):
        for start in range(len(words) - 2 * n + 1):
            gram, run = words[start : start + n], 1
            while words[start + run * n : start + (run + 1) * n] == gram:
                run += 1
            best = max(best, run)
    return best


def normalise(text: str, language: str) -> str:
    """Whisper's normalisers: English for en, basic otherwise; zh/ja as spaced characters."""
    if language == "en":
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()(text)
    from whisper_normalizer.basic import BasicTextNormalizer

    plain = BasicTextNormalizer()(text)
    return " ".join(plain.replace(" ", "")) if language in _CHARACTERS else plain


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    """WER (CER for zh/ja, which is WER over spaced characters) after normalising both."""
    import jiwer

    ref, hyp = normalise(reference, language), normalise(hypothesis, language)
    return round(jiwer.wer(ref, hyp or "<empty>"), 4) if ref.strip() else 0.0


def hit_share(references: list[str], hypothesis: str, language: str = "xx") -> list[float]:
    """Per reference part, the share of its words aligned as correct in one joined hypothesis."""
    import jiwer

    parts = [normalise(r, language).split() for r in references]
    out = jiwer.process_words(
        " ".join(w for p in parts for w in p), normalise(hypothesis, language)
    )
    hits = [False] * sum(len(p) for p in parts)
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                hits[i] = True
    shares, start = [], 0
    for part in parts:
        shares.append(round(sum(hits[start : start + len(part)]) / max(1, len(part)), 3))
        start += len(part)
    return shares


def union_seconds(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(spans):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def intersect_seconds(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(
        max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in _merged(a) for s2, e2 in _merged(b)
    )


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def reference_turns(data: Path) -> dict[str, list[tuple[float, float, str]]]:
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for line in (data / "ami" / "reference.rttm").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, length = float(fields[3]), float(fields[4])
            turns.setdefault(fields[1], []).append((start, start + length, fields[7]))
    return turns


def der(reference, hypothesis, duration: float, metric=None) -> dict:
    """DER of one file (the whole of it scored) with its parts in seconds; ``metric`` (a
    ``DiarizationErrorRate``) accumulates files for the time-weighted total (``abs(metric)``)."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns):
        out = Annotation()
        for i, (s, e, who) in enumerate(turns):
            out[Segment(s, e), i] = who
        return out

    metric = metric if metric is not None else DiarizationErrorRate(collar=0.0, skip_overlap=False)
    uem = Timeline([Segment(0.0, duration)])
    parts = metric(annotation(reference), annotation(hypothesis), uem=uem, detailed=True)
    names = {
        "missed detection": "missed_s",
        "false alarm": "false_alarm_s",
        "confusion": "confusion_s",
    }
    return {
        "der": round(float(parts["diarization error rate"]), 4),
        "speech_s": round(float(parts["total"]), 2),
        **{short: round(float(parts[long]), 2) for long, short in names.items()},
    }
