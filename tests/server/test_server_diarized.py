"""``response_format=diarized_json`` through the official ``openai`` client: who spoke each
segment, by enrolled name (``known_speaker_names[]`` + ``known_speaker_references[]``) or as
``A``, ``B``, ...; streamed too; and a 400 naming the field for every bad reference.

The voices are two clearly different espeak-ng voices taking turns, embedded by the real
(packaged) Resemblyzer encoder.
"""

from __future__ import annotations

import base64
import wave
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from _server_helpers import serving

from polymodal.server import create_app
from polymodal.server.settings import MB

openai = pytest.importorskip("openai")
pytest.importorskip("resemblyzer")

RATE = 16000
VOICES = {"low": ("en-us+m3", 160, 35), "high": ("en-gb+f4", 175, 75)}
TURNS = [
    ("low", "Good morning everyone, thank you for joining the weekly planning meeting today."),
    ("high", "The first item on the agenda is the budget for the new warehouse in the north."),
    ("low", "I looked at the numbers yesterday and the costs are higher than we expected."),
    ("high", "Shipping prices went up again last month, mostly because of the fuel surcharge."),
]
ENROL = {
    "low": "Remember that the office will be closed on the first Monday of next month.",
    "high": "If anyone needs extra equipment for working from home, tell me before Thursday.",
}


def _samples(speak, text: str, voice: str, path: Path) -> np.ndarray:
    """One utterance of ``voice``, its leading and trailing silence trimmed."""
    name, speed, pitch = VOICES[voice]
    speak(text, path, voice=name, speed=speed, pitch=pitch)
    with wave.open(str(path)) as source:
        audio = np.frombuffer(source.readframes(source.getnframes()), "<i2") / 32768.0
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1]


def _write(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def meeting(tmp_path_factory, speak_to) -> tuple[Path, list[tuple[float, float, str]]]:
    """Four turns, low and high voices alternating, and the true ``(start, end, voice)``."""
    folder = tmp_path_factory.mktemp("server-diarized")
    gap = np.zeros(int(0.5 * RATE))
    pieces, turns, cursor = [gap], [], len(gap)
    for index, (voice, text) in enumerate(TURNS):
        samples = _samples(speak_to, text, voice, folder / f"turn{index}.wav")
        turns.append((cursor / RATE, (cursor + len(samples)) / RATE, voice))
        pieces += [samples, gap]
        cursor += len(samples) + len(gap)
    return _write(folder / "meeting.wav", np.concatenate(pieces)), turns


def _data_url(path: Path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def references(tmp_path_factory, speak_to) -> dict[str, str]:
    """A data URL per voice (4-6 s, worded differently from the meeting)."""
    folder = tmp_path_factory.mktemp("server-enrol")
    urls = {}
    for voice, text in ENROL.items():
        clip = _write(folder / f"{voice}.wav", _samples(speak_to, text, voice, folder / "raw.wav"))
        urls[voice] = _data_url(clip)
    return urls


@pytest.fixture(scope="module")
def url(server_settings):
    """A live server that takes uploads of a few MB (the meeting and its references)."""
    with serving(create_app(replace(server_settings, max_audio_bytes=25 * MB))) as base:
        yield base


@pytest.fixture(scope="module")
def sdk(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=180)


def _diarize(sdk, path: Path, **options):
    with path.open("rb") as audio:
        return sdk.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize",
            file=audio,
            response_format="diarized_json",
            **options,
        )


def _true_voice(turns, start: float, end: float) -> str:
    middle = (start + end) / 2
    return min(turns, key=lambda t: 0 if t[0] <= middle <= t[1] else abs(middle - t[0]))[2]


def test_enrolled_names_say_who_spoke_each_segment(sdk, meeting, references):
    path, turns = meeting
    result = _diarize(
        sdk,
        path,
        known_speaker_names=["agent", "customer"],
        known_speaker_references=[references["low"], references["high"]],
    )
    assert isinstance(result, openai.types.audio.TranscriptionDiarized)
    assert result.task == "transcribe" and result.duration == pytest.approx(turns[-1][1], abs=1)
    ids = [s.id for s in result.segments]
    assert ids == [f"seg_{n:03d}" for n in range(1, len(ids) + 1)]
    assert all(s.type == "transcript.text.segment" for s in result.segments)
    assert {s.speaker for s in result.segments} == {"agent", "customer"}
    name = {"low": "agent", "high": "customer"}
    right = [s.speaker == name[_true_voice(turns, s.start, s.end)] for s in result.segments]
    assert sum(right) / len(right) >= 0.8
    assert result.text == " ".join(s.text for s in result.segments)
    assert "warehouse" in result.text.lower()


def test_without_references_the_speakers_are_letters_in_order(sdk, meeting):
    path, turns = meeting
    result = _diarize(sdk, path)
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert result.segments[0].speaker == "A"
    for segment in result.segments:  # our extensions, as verbose_json's segments have them
        assert segment.model_extra["language"] == "english"
        assert isinstance(segment.model_extra["suspect_reasons"], list)
    letter = {turns[0][2]: "A", turns[1][2]: "B"}
    right = [s.speaker == letter[_true_voice(turns, s.start, s.end)] for s in result.segments]
    assert sum(right) / len(right) >= 0.8


def test_a_diarized_stream_sends_deltas_then_labelled_segments_then_done(sdk, meeting, references):
    path, _ = meeting
    events = list(
        _diarize(
            sdk,
            path,
            stream=True,
            known_speaker_names=["agent"],
            known_speaker_references=[references["low"]],
        )
    )
    kinds = [e.type for e in events]
    first_segment = kinds.index("transcript.text.segment")
    assert kinds[0] == "transcript.text.delta" and kinds[-1] == "transcript.text.done"
    assert set(kinds[:first_segment]) == {"transcript.text.delta"}
    assert set(kinds[first_segment:-1]) == {"transcript.text.segment"}
    segments = events[first_segment:-1]
    assert all(isinstance(e, openai.types.audio.TranscriptionTextSegmentEvent) for e in segments)
    assert {e.speaker for e in segments} == {"agent", "A"}  # the unenrolled voice is A
    deltas = "".join(e.delta for e in events[:first_segment])
    assert deltas == events[-1].text and "budget" in deltas.lower()
    for segment in segments:
        assert segment.model_extra["language"] == "english"
        assert isinstance(segment.model_extra["suspect_reasons"], list)
    done = events[-1].model_extra
    assert done["task"] == "transcribe" and done["duration"] > segments[-1].end - 1


def test_chunking_strategies_are_accepted_and_bad_ones_refused(sdk, speech_wav):
    for strategy in ("auto", {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 300}):
        with speech_wav.open("rb") as audio:
            result = sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, chunking_strategy=strategy
            )
        assert "fox" in result.text.lower()
    with speech_wav.open("rb") as audio, pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=audio, chunking_strategy="fixed")
    assert caught.value.param == "chunking_strategy"


@pytest.fixture(scope="module")
def bad_clips(tmp_path_factory, speak_to) -> dict[str, str]:
    """Reference clips each refused for another reason."""
    folder = tmp_path_factory.mktemp("server-bad-enrol")
    hello = _samples(speak_to, "Hello there.", "low", folder / "hello.wav")  # about 1 s
    words = " ".join([*ENROL.values(), TURNS[0][1]])
    long = _samples(speak_to, words, "low", folder / "long.wav")  # about 14 s
    padded = np.concatenate([hello, np.zeros(int(2.5 * RATE))])  # 3.5 s, 1 s of it speech
    return {
        "short": _data_url(_write(folder / "short.wav", hello)),
        "long": _data_url(_write(folder / "longer.wav", long)),
        "little speech": _data_url(_write(folder / "padded.wav", padded)),
        "not audio": "data:audio/wav;base64," + base64.b64encode(b"just text " * 400).decode(),
        "not base64": "data:audio/wav;base64,@@not base64@@",
        "not a data URL": "https://example.com/agent.wav",
        "not encoded": "data:audio/wav,RIFF",
    }


@pytest.mark.parametrize(
    ("clip", "words"),
    [
        ("short", "must be 2-10 s"),
        ("long", "must be 2-10 s"),
        ("little speech", "of speech"),
        ("not audio", "not audio"),
        ("not base64", "no valid base64"),
        ("not a data URL", "not a data URL"),
        ("not encoded", "without base64"),
    ],
)
def test_a_bad_reference_is_400_naming_the_field(url, speech_wav, bad_clips, clip, words):
    data = {
        "model": "whisper-1",
        "response_format": "diarized_json",
        "known_speaker_names[]": ["agent"],
        "known_speaker_references[]": [bad_clips[clip]],
    }
    with speech_wav.open("rb") as audio:
        response = httpx.post(
            f"{url}/v1/audio/transcriptions",
            data=data,
            files={"file": ("clip.wav", audio)},
            timeout=120,
        )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "known_speaker_references" and words in error["message"]
    assert "/tmp" not in error["message"] and "polymodal-" not in error["message"]
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_names_and_references_must_pair_up(sdk, speech_wav, references):
    with pytest.raises(openai.BadRequestError) as caught:
        _diarize(
            sdk,
            speech_wav,
            known_speaker_names=["agent", "customer"],
            known_speaker_references=[references["low"]],
        )
    assert caught.value.param == "known_speaker_references" and "one reference" in str(caught.value)
    with pytest.raises(openai.BadRequestError) as caught:
        _diarize(
            sdk,
            speech_wav,
            known_speaker_names=["agent", "agent"],
            known_speaker_references=[references["low"], references["high"]],
        )
    assert caught.value.param == "known_speaker_names"
