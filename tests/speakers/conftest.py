"""Speaker fixtures: espeak-ng conversations with known turn times, made once per session."""

from __future__ import annotations

import numpy as np
import pytest
from speaker_audio import SENTENCES, Conversation, build, synthesise

from polymodal.speech import SpeakerOptions, diarize


@pytest.fixture(scope="session")
def speaker_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("speakers")


@pytest.fixture(scope="session")
def two_voices(speak_to, speaker_dir) -> Conversation:
    """Five turns of 4-6 s, two clearly different voices."""
    script = [("low", 1), ("high", 1), ("low", 1), ("high", 1), ("low", 1)]
    return build(speak_to, script, speaker_dir, name="two")


@pytest.fixture(scope="session")
def three_voices(speak_to, speaker_dir) -> Conversation:
    script = [("low", 1), ("high", 1), ("third", 1), ("low", 1), ("third", 1), ("high", 1)]
    return build(speak_to, script, speaker_dir, name="three")


@pytest.fixture(scope="session")
def one_voice(speak_to, speaker_dir) -> Conversation:
    """One speaker, three sentences with pauses between them."""
    return build(speak_to, [("high", 1), ("high", 1), ("high", 1)], speaker_dir, name="one")


@pytest.fixture(scope="session")
def enrol_clips(speak_to, speaker_dir):
    """A reference clip per voice, worded differently from the conversations."""
    clips = {}
    for voice, sentence in (("low", 12), ("high", 13), ("stranger", 14)):
        path = speaker_dir / f"enrol_{voice}.wav"
        synthesise(speak_to, SENTENCES[sentence], voice, path)
        clips[voice] = path
    return clips


@pytest.fixture(scope="session")
def short_clip(speak_to, speaker_dir):
    """About a second of speech: too little to enrol a voice."""
    path = speaker_dir / "short.wav"
    speak_to("Hello there.", path, voice="en-us+m3", speed=170)
    return path


@pytest.fixture(scope="session")
def diarized(two_voices, three_voices, one_voice):
    """``auto`` diarization of each conversation, computed once."""
    auto = SpeakerOptions()
    return {
        "two": diarize(two_voices.path, auto),
        "three": diarize(three_voices.audio, auto),
        "one": diarize(one_voice.path, auto),
    }


@pytest.fixture
def silence():
    return np.zeros(16000 * 5, dtype=np.float32)
