"""``polymodal_speakers``: the realtime socket's one extension, a speaker label on each
completed item when the session asks for it (and OpenAI's shapes unchanged when not)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from polymodal.media.audio import decode_audio
from polymodal.server import create_app

pytest.importorskip("resemblyzer")
soxr = pytest.importorskip("soxr")

ROUTE = "/v1/realtime?intent=transcription"
COMPLETED = "conversation.item.input_audio_transcription.completed"
TURNS = (
    ({"voice": "en-us+m3", "pitch": 35}, "The first part of the message is spoken before a pause."),
    ({"voice": "en-us+f2", "pitch": 80}, "Every morning the baker opens his shop at dawn."),
    ({"voice": "en-us+m3", "pitch": 35}, "And this second part of the message comes after it."),
)


def _asking(speakers: object) -> dict:
    transcription = {"model": "whisper-1", "polymodal_speakers": speakers}
    return {
        "type": "session.update",
        "session": {"audio": {"input": {"transcription": transcription}}},
    }


@pytest.fixture(scope="module")
def conversation_pcm(tmp_path_factory, speak_to) -> bytes:
    """Low voice, high voice, low voice, a second of silence after each, as 24 kHz PCM16."""
    folder = tmp_path_factory.mktemp("realtime-speakers")
    pause = np.zeros(16000, np.float32)
    parts = []
    for i, (voice, text) in enumerate(TURNS):
        parts += [decode_audio(speak_to(text, folder / f"turn{i}.wav", **voice)), pause]
    audio = soxr.resample(np.concatenate(parts), 16000, 24000)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def client(server_settings):
    with TestClient(create_app(server_settings)) as test_client:
        yield test_client


def test_completed_items_carry_their_speaker_when_asked(client, conversation_pcm):
    with client.websocket_connect(ROUTE) as ws:
        created = ws.receive_json()
        assert "polymodal_speakers" not in created["session"]["audio"]["input"]["transcription"]
        ws.send_json(_asking(True))
        updated = ws.receive_json()
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["input"]["transcription"]["polymodal_speakers"] is True
        for start in range(0, len(conversation_pcm), 4800):  # 100 ms appends
            chunk = base64.b64encode(conversation_pcm[start : start + 4800]).decode()
            ws.send_json({"type": "input_audio_buffer.append", "audio": chunk})
        completed = []
        while len(completed) < 3:
            event = ws.receive_json()
            assert event["type"] != "error", event
            if event["type"] == COMPLETED:
                completed.append(event)
    assert [e["speaker"] for e in completed] == ["A", "B", "A"], [
        e["transcript"] for e in completed
    ]


def test_a_wrong_value_is_an_error_event(client):
    with client.websocket_connect(ROUTE) as ws:
        ws.receive_json()
        ws.send_json(_asking("yes"))
        error = ws.receive_json()
        assert error["type"] == "error"
        assert "true or false" in error["error"]["message"]
        assert error["error"]["param"].endswith("transcription.polymodal_speakers")
        ws.send_json(_asking(False))
        updated = ws.receive_json()
        assert updated["type"] == "session.updated"
        assert "polymodal_speakers" not in updated["session"]["audio"]["input"]["transcription"]


def test_the_beta_spelling_takes_it_too(client):
    with client.websocket_connect(ROUTE) as ws:
        ws.receive_json()
        beta = {"input_audio_transcription": {"model": "whisper-1", "polymodal_speakers": True}}
        ws.send_json({"type": "transcription_session.update", "session": beta})
        updated = ws.receive_json()
        assert updated["type"] == "transcription_session.updated"
        assert updated["session"]["input_audio_transcription"]["polymodal_speakers"] is True
