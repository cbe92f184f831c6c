"""Which language each window speaks, and where inside a window the language changes.

Whisper detects a language from the encoder output of a window, and a file's later windows keep
it, so a file that switches language loses its second part: on a real English-then-German
recording (FLEURS) plain faster-whisper recognised 55 % of the English words and none of the
German. Here every window's language is read from the encoder output already computed for
decoding, and so is the language of each stretch of speech inside it: the decoder's language
step on the encoder frames of that stretch (a slice, no second encoder pass; 25-40 ms a
stretch on CPU). A window is ended where a stretch confidently speaks another language, so the
next window starts there and is decoded in its own language.

The stretches are the window's VAD pieces; a window whose own detection is unsure (top
probability under :data:`SURE`) is also split at short pauses (Silero, 0.5 s), because joined
speech without a 2 s pause is one piece. Measured on the English/German recording: pieces read
en 0.98, 0.98, 0.96, then de 0.62 where the German starts, while the whole window read en 0.93;
espeak-ng English, German and Spanish without long pauses: the window read la 0.47, its
stretches en, en, es.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.media.audio import SAMPLE_RATE
from polymodal.speech.chunks import Chunk

SURE = 0.8  # a window's own detection below this is checked at short pauses too
STRETCH_SURE = 0.5  # a stretch speaks another language only when detected this surely
HARDLY = 0.2  # ... and hardly (under this) in the window's language
MIN_STRETCH_SECONDS = 1.0  # shorter stretches are too short to tell a language
_FRAMES_PER_SECOND = 50  # encoder output frames (two mel frames each)


@dataclass(frozen=True)
class WindowLanguage:
    """A window's language and the probability it was detected with (1.0 when given), and
    ``cut``: the window-local second where another language begins (``None``: none does)."""

    language: str
    probability: float
    cut: float | None = None


def _top(ranking) -> tuple[str, float]:
    token, probability = ranking[0]
    return token[2:-2], float(probability)


def keep_unless_sure(ranking, before: str | None, cut: float | None = None) -> WindowLanguage:
    """A window's detected language, except that it keeps ``before`` (its source's language so
    far) unless another is detected surely: a 2.3 s tail of an English meeting read Welsh and
    came out as "oes, oes, oes, oes." (``ranking``: CTranslate2's ``[(token, p), ...]``)."""
    language, probability = _top(ranking)
    if before is None or language == before or probability >= SURE:
        return WindowLanguage(language, probability, cut)
    kept = next((float(p) for token, p in ranking if token[2:-2] == before), 0.0)
    return WindowLanguage(before, kept, cut)


def window_languages(
    engine,
    encoder_output,
    windows: Sequence[Chunk],
    options,
    before: Sequence[str | None] | None = None,
) -> list[WindowLanguage]:
    """Each window's language: ``options.language`` when given; else detected per window (a
    window keeps its source's language so far, ``before``, unless it hears another surely)
    and per stretch of speech inside it (a ``cut`` where another language begins)."""
    if options.language:
        return [WindowLanguage(options.language, 1.0) for _ in windows]
    before = before or [None] * len(windows)
    detected = engine.model.model.detect_language(encoder_output)
    whole = [keep_unless_sure(r, b) for r, b in zip(detected, before, strict=True)]
    frames = _host_array(engine, encoder_output)
    return [
        _check_stretches(engine, frames[i], window, found)
        for i, (window, found) in enumerate(zip(windows, whole, strict=True))
    ]


def after_cut(
    engine,
    encoder_output,
    found: Sequence[WindowLanguage],
    before: Sequence[str | None] | None = None,
) -> list[WindowLanguage]:
    """The languages of windows encoded again after :func:`window_languages` cut some of them:
    a cut window's own detection, now that its encoder hears one language only, rather than a
    slice of frames that also attended to the next language."""
    detected = engine.model.model.detect_language(encoder_output)
    before = before or [None] * len(found)
    return [
        f if f.cut is None else keep_unless_sure(ranking, b or f.language, f.cut)
        for f, ranking, b in zip(found, detected, before, strict=True)
    ]


def _check_stretches(engine, frames: np.ndarray, window: Chunk, found: WindowLanguage):
    """``found`` checked against the window's stretches. A sure window is checked at its last
    piece first, and in full only when that piece speaks another language (one detection a
    window instead of one a piece: the checks had cost about 10 % of the decoding time on an
    espeak-ng passage)."""
    unsure = found.probability < SURE
    spans = stretches(window, split=unsure)
    if len(spans) < 2 and not unsure:
        return found
    if not unsure:
        last = _detect_span(engine, frames, spans[-1])
        if spans[-1][1] - spans[-1][0] < MIN_STRETCH_SECONDS or not _speaks_other(
            last, found.language, strict=True
        ):
            return found
    return choose(found, spans, [_detect_span(engine, frames, span) for span in spans])


def _detect_span(engine, frames: np.ndarray, span: tuple[float, float]) -> dict[str, float]:
    """Language probabilities of the encoder frames of one stretch (window-local seconds)."""
    first = min(int(span[0] * _FRAMES_PER_SECOND), len(frames) - 1)
    piece = frames[first : max(int(span[1] * _FRAMES_PER_SECOND), first + 1)]
    ranking = engine.model.model.detect_language(_storage(engine, piece))[0]
    return {token[2:-2]: float(p) for token, p in ranking}


def choose(
    found: WindowLanguage,
    spans: Sequence[tuple[float, float]],
    detected: Sequence[dict[str, float]],
) -> WindowLanguage:
    """The window's language from its stretches (``detected``: each stretch's probabilities),
    and a cut where a later stretch speaks another.

    A stretch speaks another language than ``current`` when it is detected surely in it and
    hardly in ``current`` (under :data:`HARDLY`): Whisper reads unsure English as Welsh (a
    meeting's tail read cy 0.69, en 0.25; real German read de 0.62, en 0.15). In a window whose
    own detection was unsure, any other top language of a stretch of a second or more cuts (a
    language between others is read unsurely from a slice: espeak-ng German between English and
    Spanish read cy 0.32, and was decoded as English until this rule cut it off). A window
    that is one stretch keeps its own detection: the slice without its padding read cy 0.69,
    en 0.15 where the whole window read en 0.47, cy 0.33 (the meeting's English tail).
    """
    heard = [
        (span, ranking)
        for span, ranking in zip(spans, detected, strict=True)
        if span[1] - span[0] >= MIN_STRETCH_SECONDS and ranking
    ]
    current, probability = found.language, found.probability
    if len(spans) > 1 and heard and _speaks_other(heard[0][1], current, strict=True):
        current, probability = _top_of(heard[0][1])
    unsure_window = found.probability < SURE
    for (start, _), ranking in heard[1:]:
        if _speaks_other(ranking, current, strict=not unsure_window):
            return WindowLanguage(current, round(probability, 4), round(start, 3))
    return WindowLanguage(current, round(probability, 4))


def _top_of(ranking: dict[str, float]) -> tuple[str, float]:
    language = max(ranking, key=ranking.__getitem__)
    return language, ranking[language]


def _speaks_other(ranking: dict[str, float], current: str, *, strict: bool) -> bool:
    language, probability = _top_of(ranking)
    if language == current:
        return False
    return not strict or (probability >= STRETCH_SURE and ranking.get(current, 0.0) < HARDLY)


def stretches(window: Chunk, *, split: bool) -> list[tuple[float, float]]:
    """Window-local ``(start, end)`` of the window's pieces; with ``split``, of its speech
    between pauses of 0.5 s or more."""
    if split:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        vad = VadOptions(threshold=0.3, min_silence_duration_ms=500, speech_pad_ms=200)
        found = get_speech_timestamps(window.audio, vad)
        if len(found) > 1:
            return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in found]
    spans, offset = [], 0.0
    for _, length in window.pieces:
        spans.append((offset, offset + length))
        offset += length
    return spans


def _host_array(engine, encoder_output) -> np.ndarray:
    if engine.device != "cpu":
        import ctranslate2

        encoder_output = encoder_output.to_device(ctranslate2.Device.cpu)
    return np.asarray(encoder_output)


def _storage(engine, frames: np.ndarray):
    """Encoder frames as a batch of one on the model's device."""
    import ctranslate2

    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(frames[None]))
    return storage if engine.device == "cpu" else storage.to_device(ctranslate2.Device.cuda)
