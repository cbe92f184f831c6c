"""Every speech result and option type serialises through polymodal.render and reads back
equal; the transcript's JSON keeps the keys it has always had."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymodal.render import from_data, to_data, to_json
from polymodal.speech import (
    DecodeOptions,
    Diarization,
    FileOutcome,
    FolderReport,
    Segment,
    SpeakerOptions,
    SpeakerSummary,
    SpeakerTurn,
    Transcript,
    TranscriptionInfo,
    Word,
)
from polymodal.speech.formats import render_json

WORD = Word(0.5, 0.9, " Hello", 0.98, "SPEAKER_1")
SEGMENT = Segment(
    1,
    0.5,
    2.0,
    " Hello there.",
    (WORD, Word(0.9, 2.0, " there.", 0.91, "SPEAKER_1")),
    avg_logprob=-0.2,
    compression_ratio=1.1,
    no_speech_prob=0.01,
    suspect_reasons=("stock_phrase",),
    speaker="SPEAKER_1",
    speaker_name="Alice",
)
INFO = TranscriptionInfo("en", 0.97, 3.0, "whisper-base", "transcribe", "talk.wav")
TRANSCRIPT = Transcript.of(
    INFO,
    (SEGMENT, Segment(2, 2.0, 3.0, " Bye.")),
    (SpeakerSummary("SPEAKER_1", "Alice", 1.5, 1),),
)
EXAMPLES = [
    WORD,
    SEGMENT,
    INFO,
    SpeakerTurn(0.4, 2.1, "SPEAKER_1"),
    SpeakerSummary("SPEAKER_2", None, 2.0, 3),
    TRANSCRIPT,
    Diarization((SpeakerTurn(0.4, 2.1, "SPEAKER_1"),), {"SPEAKER_1": "Alice"}),
    FileOutcome(Path("in/a.wav"), "written", (Path("out/a.txt"),), None, "en", 3.0),
    FolderReport((FileOutcome(Path("b.wav"), "failed", reason="not audio"),)),
    DecodeOptions(language="de", beam_size=1, temperatures=(0.2,), no_speech_threshold=None),
    SpeakerOptions(2, enroll={"Alice": Path("alice.wav")}),
    SpeakerOptions(),
]


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_round_trip(value):
    assert from_data(type(value), to_data(value)) == value


def test_transcript_json_keeps_its_keys():
    data = to_data(TRANSCRIPT)
    assert set(data) == {
        "source",
        "model",
        "task",
        "language",
        "language_probability",
        "duration",
        "text",
        "segments",
        "speakers",
        *("speech_seconds", "covered_seconds", "speech_regions", "untranscribed_speech"),
        "warnings",
        "languages",
        "speaker_turns",
    }
    assert data["text"] == "Hello there. Bye."
    assert set(data["segments"][0]) == {
        "id",
        "start",
        "end",
        "text",
        "avg_logprob",
        "compression_ratio",
        "no_speech_prob",
        "suspect",
        "suspect_reasons",
        "speaker",
        "speaker_name",
        "language",
        "words",
    }
    assert data["segments"][0]["words"][0] == {
        "start": 0.5,
        "end": 0.9,
        "word": " Hello",
        "probability": 0.98,
        "speaker": "SPEAKER_1",
    }
    assert data["segments"][0]["suspect"] is True
    assert render_json(TRANSCRIPT) == to_json(TRANSCRIPT) + "\n"


def test_transcript_header_is_its_info():
    assert TRANSCRIPT.info == INFO
    assert TRANSCRIPT.segments[0].words[0].text == " Hello"
