"""Speaker labels on live items (``LiveOptions(speakers=True)``): espeak-ng voices fed as a
microphone delivers them; one voice keeps its label, another voice gets another."""

from __future__ import annotations

import numpy as np
import pytest

import polymodal
from polymodal.media.audio import decode_audio
from polymodal.speech.live_speakers import MAX_SPEAKERS, SAME_SPEAKER, LiveSpeakers

pytest.importorskip("resemblyzer")

LOW = {"voice": "en-us+m3", "pitch": 35}
HIGH = {"voice": "en-us+f2", "pitch": 80}
TURNS = (
    (LOW, "The first part of the message is spoken before a long pause."),
    (HIGH, "Every morning the baker opens his shop before the sun rises."),
    (LOW, "And this second part of the message comes after the silence."),
)


@pytest.fixture(scope="module")
def conversation(tmp_path_factory, speak_to) -> np.ndarray:
    """Three turns, low voice, high voice, low voice, a second apart: a pause that ends an
    item but is short enough for the session to carry the last item's tail into the next
    (the labeller must not hear the previous speaker there)."""
    folder = tmp_path_factory.mktemp("live-speakers")
    pause = np.zeros(16000, np.float32)
    parts = []
    for i, (voice, text) in enumerate(TURNS):
        parts += [decode_audio(speak_to(text, folder / f"turn{i}.wav", **voice)), pause]
    return np.concatenate(parts)


def test_one_voice_keeps_its_label_and_another_gets_another(tiny, conversation):
    session = polymodal.LiveSession(tiny, polymodal.LiveOptions(speakers=True))
    events = []
    for start in range(0, conversation.size, 1600):
        events += session.feed(conversation[start : start + 1600])
    events += session.finish()
    completed = [e for e in events if e.kind == "completed"]
    assert len(completed) == 3, [e.transcript for e in completed]
    assert [e.speaker for e in completed] == ["A", "B", "A"]
    assert "morning" in completed[1].transcript.lower()  # the items are the turns


def test_labels_are_off_unless_asked_for():
    assert polymodal.LiveOptions().speakers is False


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, np.float32)
    return vector / np.linalg.norm(vector)


def test_an_item_joins_the_nearest_centroid_past_the_threshold():
    """The assignment on its own: above :data:`SAME_SPEAKER` an item joins the nearest voice
    (and moves its centroid); below it, it is a new voice."""
    labeller = LiveSpeakers(encoder=None)
    first = _unit([1.0, 0.0, 0.0])
    close = _unit([1.0, 0.3, 0.0])  # cosine 0.96 with the first
    far = _unit([0.0, 0.0, 1.0])
    assert float(first @ close) >= SAME_SPEAKER > float(first @ far)
    assert [labeller.assign(v) for v in (first, far, close, far)] == ["A", "B", "A", "B"]


def test_past_z_a_new_voice_takes_the_nearest_label():
    labeller = LiveSpeakers(encoder=None)
    basis = np.eye(MAX_SPEAKERS + 1, dtype=np.float32)
    labels = [labeller.assign(v) for v in basis]
    assert labels[:2] == ["A", "B"] and labels[MAX_SPEAKERS - 1] == "Z"
    assert labels[-1] in labels[:-1]


def test_audio_too_short_to_embed_has_no_label():
    labeller = LiveSpeakers(encoder=None)
    assert labeller.label(np.zeros(1000, np.float32)) is None
