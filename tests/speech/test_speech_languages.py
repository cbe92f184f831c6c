"""Every language in a file: each window (and each part of one) decoded in its own language,
segments labelled, and the transcript listing the languages with their speaking time."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from polymodal.render import from_data, to_data
from polymodal.speech.languages import WindowLanguage, choose
from polymodal.speech.options import DecodeOptions
from polymodal.speech.results import LanguageTime, Segment, Transcript, TranscriptionInfo

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-speech"
ENGLISH = ("en/fleurs_en_000.ogg", "en/fleurs_en_001.ogg", "en/fleurs_en_002.ogg")
GERMAN = ("multilingual/fleurs_de_000.ogg", "multilingual/fleurs_de_001.ogg")
ESPEAK = (
    (
        "en-us",
        "The weather was mild in spring, and the visitors walked along the old streets of "
        "the city to taste the food and listen to the music.",
    ),
    (
        "es",
        "Mi hermana viene a visitarnos el próximo mes con sus dos perros, y vamos a pasear "
        "juntos por la playa todas las mañanas.",
    ),
)


def test_a_sure_stretch_in_another_language_ends_the_window():
    spans = [(0.0, 8.5), (8.5, 16.7), (16.7, 27.1), (27.1, 30.0)]
    detected = [{"en": 0.98}, {"en": 0.98}, {"en": 0.96}, {"de": 0.62, "en": 0.15}]
    found = choose(WindowLanguage("en", 0.93), spans, detected)
    assert found == WindowLanguage("en", 0.93, cut=27.1)


def test_english_read_as_welsh_does_not_switch():
    """A meeting's tail read cy 0.69 with en 0.15 from its frames: it is still English."""
    found = choose(WindowLanguage("en", 0.47), [(0.0, 2.3)], [{"cy": 0.69, "en": 0.15}])
    assert found == WindowLanguage("en", 0.47)
    spans = [(0.0, 17.4), (21.0, 23.3)]
    detected = [{"en": 0.81}, {"cy": 0.64, "en": 0.3}]
    assert choose(WindowLanguage("en", 0.85), spans, detected).cut is None


def test_an_unsure_stretch_ends_only_an_unsure_window():
    spans = [(0.0, 7.0), (8.0, 15.0), (16.0, 23.0)]
    detected = [{"en": 0.88}, {"cy": 0.32, "en": 0.3}, {"la": 0.64, "en": 0.1}]
    assert choose(WindowLanguage("la", 0.43), spans, detected).cut == 8.0
    assert choose(WindowLanguage("en", 0.95), spans, detected).cut == 16.0
    short = [(0.0, 7.0), (7.5, 8.0)]  # half a second tells no language
    assert choose(WindowLanguage("en", 0.9), short, [{"en": 0.9}, {"de": 0.9}]).cut is None


def test_a_window_starting_in_another_language_takes_it():
    spans = [(0.0, 9.0), (9.5, 12.0)]
    found = choose(WindowLanguage("en", 0.85), spans, [{"de": 0.97, "en": 0.01}, {"de": 0.9}])
    assert found == WindowLanguage("de", 0.97)


def test_languages_with_their_speaking_time_round_trip():
    info = TranscriptionInfo("en", 0.9, 60.0, "whisper-base")
    segments = (
        Segment(1, 0.0, 20.0, "Hello.", language="en"),
        Segment(2, 30.0, 60.0, "Hallo.", language="de"),
        Segment(3, 20.0, 25.0, "Again.", language="en"),
    )
    transcript = Transcript.of(info, segments)
    assert transcript.languages == (LanguageTime("de", 30.0), LanguageTime("en", 25.0))
    data = to_data(transcript)
    assert data["languages"] == [
        {"language": "de", "seconds": 30.0},
        {"language": "en", "seconds": 25.0},
    ]
    assert data["segments"][1]["language"] == "de"
    assert from_data(Transcript, data) == transcript
    assert from_data(LanguageTime, to_data(LanguageTime("fr", 2.5))) == LanguageTime("fr", 2.5)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+", text.lower()))


def _share(reference: str, text: str) -> float:
    wanted = _words(reference)
    return len(wanted & _words(text)) / len(wanted)


def _joined(parts: list[np.ndarray], pause: float = 1.0) -> np.ndarray:
    gap = np.zeros(int(pause * 16000), np.float32)
    pieces = [gap]
    for part in parts:
        pieces += [part, gap]
    return np.concatenate(pieces)


def _references() -> dict[str, str]:
    with (REAL / "MANIFEST.tsv").open(encoding="utf-8") as manifest:
        return {row["file"]: row["transcript"] for row in csv.DictReader(manifest, delimiter="\t")}


def _by_language(transcript: Transcript) -> dict[str, str]:
    texts: dict[str, str] = {}
    for segment in transcript.segments:
        texts[segment.language] = texts.get(segment.language, "") + " " + segment.text
    return texts


@pytest.mark.slow
def test_a_real_english_then_german_recording_gives_both_halves(base):
    """FLEURS English then German, joined with 1 s pauses: plain faster-whisper recognised 55 %
    of the English words and none of the German (it translated that half)."""
    if not (REAL / GERMAN[0]).exists():
        pytest.skip(f"the real recordings are not in {REAL}")
    from faster_whisper import decode_audio

    audio = _joined([decode_audio(str(REAL / name)) for name in ENGLISH + GERMAN])
    references = _references()
    transcript = base.transcribe(audio)
    texts = _by_language(transcript)
    assert set(texts) == {"en", "de"}
    assert _share(" ".join(references[n] for n in ENGLISH), texts["en"]) >= 0.7
    assert _share(" ".join(references[n] for n in GERMAN), texts["de"]) >= 0.6
    assert [t.language for t in transcript.languages] == ["en", "de"]
    assert transcript.segments[0].language == "en" and transcript.segments[-1].language == "de"
    forced = base.transcribe(audio, DecodeOptions(language="en"))
    assert {s.language for s in forced.segments} == {"en"}


@pytest.mark.slow
def test_espeak_voices_in_two_languages_each_decoded_in_its_own(base, clip_dir, speak_to):
    parts = []
    for voice, text in ESPEAK:
        path = speak_to(text, clip_dir / f"lang_{voice}.wav", voice=voice)
        parts.append(_read(path))
    transcript = base.transcribe(_joined(parts, pause=0.6))
    texts = _by_language(transcript)
    assert set(texts) == {"en", "es"}
    for (_, text), language in zip(ESPEAK, ("en", "es"), strict=True):
        assert _share(text, texts[language]) >= 0.6
    translated = base.transcribe(_joined(parts, pause=0.6), DecodeOptions(task="translate"))
    assert "hermana" not in translated.text.lower()
    assert _share("my sister is coming to visit us next month", translated.text) >= 0.5


def _read(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.float32).copy()
