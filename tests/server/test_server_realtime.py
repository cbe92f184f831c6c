"""``/v1/realtime?intent=transcription``: OpenAI's realtime transcription protocol over a
WebSocket, with Starlette's test client, a plain ``websockets`` client on a live uvicorn,
and the official SDK's realtime client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from _server_helpers import API_KEY, SPOKEN, serving
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from polymodal.media.audio import decode_audio
from polymodal.server import create_app
from polymodal.server.openai.realtime import RealtimeLimits

websockets = pytest.importorskip("websockets")
soxr = pytest.importorskip("soxr")

ROUTE = "/v1/realtime?intent=transcription"
SILENCE = base64.b64encode(b"\0\0" * 24000).decode()  # one second at 24 kHz


def pcm24(path) -> bytes:
    audio = soxr.resample(decode_audio(path), 16000, 24000)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def appends(pcm: bytes, ms: int = 100) -> list[dict]:
    """Append events of ``ms`` of 24 kHz PCM16 each, as a microphone client sends them."""
    size = 48 * ms
    return [
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + size]).decode()}
        for i in range(0, len(pcm), size)
    ]


def until(ws, kind: str, limit: int = 2000) -> list[dict]:
    """Events received up to and including the first of type ``kind``."""
    events = []
    for _ in range(limit):
        events.append(ws.receive_json())
        if events[-1]["type"] == kind:
            return events
    raise AssertionError(f"no {kind} in {[e['type'] for e in events]}")


def word_errors(text: str) -> float:
    """Word error rate against the spoken sentence (case and punctuation aside)."""
    import re

    import jiwer

    def words(t: str) -> str:
        return " ".join(re.sub(r"[^a-z' ]+", " ", t.lower()).split())

    return jiwer.wer(words(SPOKEN), words(text))


def transcripts(events: list[dict]) -> dict[str, dict]:
    """Per item: its deltas joined and its completed transcripts."""
    found: dict[str, dict] = defaultdict(lambda: {"deltas": "", "completed": []})
    for event in events:
        if event["type"].endswith("transcription.delta"):
            found[event["item_id"]]["deltas"] += event["delta"]
        elif event["type"].endswith("transcription.completed"):
            found[event["item_id"]]["completed"].append(event["transcript"])
    return dict(found)


@pytest.fixture(scope="module")
def app(server_settings):
    return create_app(server_settings)


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def speech_pcm(speech_wav) -> bytes:
    return pcm24(speech_wav)


def test_session_created_then_updated(client):
    with client.websocket_connect(ROUTE) as ws:
        created = ws.receive_json()
        assert created["type"] == "session.created"
        session = created["session"]
        assert session["type"] == "transcription"
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        update = {
            "type": "transcription",
            "audio": {
                "input": {
                    "transcription": {"model": "whisper-1", "language": "en", "prompt": "Fox."},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
                }
            },
        }
        ws.send_json({"type": "session.update", "session": update})
        updated = ws.receive_json()
        assert updated["type"] == "session.updated"
        audio_input = updated["session"]["audio"]["input"]
        assert audio_input["transcription"]["language"] == "en"
        assert audio_input["turn_detection"]["silence_duration_ms"] == 700
        beta = {"input_audio_format": "pcm16", "turn_detection": None}
        ws.send_json({"type": "transcription_session.update", "session": beta})
        updated = ws.receive_json()
        assert updated["type"] == "transcription_session.updated"
        assert updated["session"]["turn_detection"] is None


def test_speech_is_captioned_and_completed_once(client, speech_pcm):
    with client.websocket_connect(ROUTE) as ws:
        until(ws, "session.created")
        for event in appends(speech_pcm):
            ws.send_json(event)
        ws.send_json({"type": "input_audio_buffer.append", "audio": SILENCE})
        events = until(ws, "conversation.item.input_audio_transcription.completed")
    kinds = [e["type"] for e in events]
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
        "input_audio_buffer.speech_stopped"
    )
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index(
        "input_audio_buffer.committed"
    )
    (item,) = transcripts(events).values()
    assert item["deltas"] == item["completed"][0]
    assert word_errors(item["completed"][0]) <= 0.25, item
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    assert all(e.get("item_id") == started["item_id"] for e in events if "item_id" in e)


def test_silence_gives_no_items(client):
    with client.websocket_connect(ROUTE) as ws:
        until(ws, "session.created")
        for _ in range(3):
            ws.send_json({"type": "input_audio_buffer.append", "audio": SILENCE})
        ws.send_json({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
        error = ws.receive_json()  # nothing came before the answer to the commit
    assert error["type"] == "error"
    assert error["error"]["event_id"] == "evt_commit"
    assert "no speech" in error["error"]["message"]


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        ("this is not json", "not valid JSON"),
        ('["a list"]', "JSON object"),
        ('{"type": "response.create"}', "Unknown event type"),
        ('{"type": "input_audio_buffer.append", "audio": "!!not base64!!"}', "base64"),
        ('{"type": "input_audio_buffer.append", "audio": "AAAB"}', "16-bit"),
        ('{"type": "input_audio_buffer.append"}', "base64 PCM16"),
        (
            '{"type": "session.update", "session": {"type": "transcription", "audio": '
            '{"input": {"format": {"type": "audio/pcm", "rate": 123}}}}}',
            "8000 to 48000",
        ),
        (
            '{"type": "session.update", "session": {"audio": {"input": {"format": '
            '{"type": "audio/pcmu"}}}}}',
            "not supported",
        ),
        (
            '{"type": "session.update", "session": {"audio": {"input": {"transcription": '
            '{"model": "no-such-model"}}}}}',
            "does not exist",
        ),
        (
            '{"type": "session.update", "session": {"audio": {"input": {"turn_detection": '
            '{"type": "server_vad", "threshold": 7}}}}}',
            "between 0 and 1",
        ),
    ],
)
def test_bad_events_are_error_events_and_the_socket_stays_open(client, sent, says):
    with client.websocket_connect(ROUTE) as ws:
        until(ws, "session.created")
        ws.send_text(sent)
        error = ws.receive_json()
        assert error["type"] == "error", error
        assert says in error["error"]["message"]
        assert error["error"]["type"] in ("invalid_request_error", "model_not_found")
        ws.send_json({"type": "session.update", "session": {"type": "transcription"}})
        assert ws.receive_json()["type"] == "session.updated"


def test_an_oversize_append_is_refused(app):
    app.state.polymodal_realtime_hub = None
    app.state.polymodal_realtime = RealtimeLimits(max_append_bytes=4800)
    try:
        with TestClient(app) as client, client.websocket_connect(ROUTE) as ws:
            until(ws, "session.created")
            big = base64.b64encode(b"\0" * 9600).decode()
            ws.send_json({"type": "input_audio_buffer.append", "audio": big})
            error = ws.receive_json()
            assert error["type"] == "error" and "at most 4,800 bytes" in error["error"]["message"]
    finally:
        app.state.polymodal_realtime = RealtimeLimits()
        app.state.polymodal_realtime_hub = None


def test_without_turn_detection_items_come_on_commit(client, speech_pcm):
    with client.websocket_connect(ROUTE) as ws:
        until(ws, "session.created")
        update = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        ws.send_json({"type": "session.update", "session": update})
        until(ws, "session.updated")
        for event in appends(speech_pcm):
            ws.send_json(event)
        ws.send_json({"type": "input_audio_buffer.commit"})
        events = until(ws, "conversation.item.input_audio_transcription.completed")
        events += until(ws, "conversation.item.done")
        ws.send_json({"type": "input_audio_buffer.clear"})
        assert ws.receive_json()["type"] == "input_audio_buffer.cleared"
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["input_audio_buffer.committed", "conversation.item.added"]
    committed, added = events[:2]
    assert added["item"]["id"] == committed["item_id"]
    assert added["previous_item_id"] == committed["previous_item_id"]
    assert added["item"]["role"] == "user" and added["item"]["content"][0]["transcript"] is None
    done = events[-1]
    completed = next(e for e in events if e["type"].endswith("transcription.completed"))
    assert done["item"]["id"] == committed["item_id"]
    assert done["item"]["content"] == [
        {"type": "input_audio", "transcript": completed["transcript"]}
    ]
    assert "input_audio_buffer.speech_started" not in kinds
    (item,) = transcripts(events).values()
    assert item["deltas"] == item["completed"][0]
    assert word_errors(item["completed"][0]) <= 0.25, item


def test_another_intent_is_refused(client):
    with client.websocket_connect("/v1/realtime?intent=conversation") as ws:
        error = ws.receive_json()
        assert error["type"] == "error"
        assert "transcription sessions only" in error["error"]["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008


def test_an_idle_session_is_closed(app):
    app.state.polymodal_realtime_hub = None
    app.state.polymodal_realtime = RealtimeLimits(idle_timeout_s=0.5)
    try:
        with TestClient(app) as client, client.websocket_connect(ROUTE) as ws:
            until(ws, "session.created")
            error = ws.receive_json()
            assert error["type"] == "error" and "idle" in error["error"]["message"]
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()
    finally:
        app.state.polymodal_realtime = RealtimeLimits()
        app.state.polymodal_realtime_hub = None


class _Unread:
    """A socket whose client sends many bad events and never reads: sends block forever."""

    def __init__(self, count: int) -> None:
        self.incoming = [{"type": "websocket.receive", "text": "bad"} for _ in range(count)]
        self.closed: tuple[int, str] | None = None
        self.app = None

    async def receive(self) -> dict:
        if self.incoming:
            return self.incoming.pop()
        await asyncio.sleep(3600)
        return {"type": "websocket.disconnect"}

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(3600)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)


def test_a_client_that_does_not_read_is_dropped(app):
    """The send queue is bounded: past it the session ends instead of buffering events."""
    from polymodal.server.openai.realtime import _Connection, _Hub

    socket = _Unread(50)
    hub = _Hub(RealtimeLimits(send_queue=8))

    async def serve() -> None:
        await asyncio.wait_for(_Connection(socket, app.state.polymodal, hub).run(), 30)

    asyncio.run(serve())
    assert socket.closed is not None and socket.closed[0] == 1008
    assert "did not read" in socket.closed[1]


# --- a live server: concurrent sessions, the key, the official client -----------------------


@pytest.fixture(scope="module")
def keyed_url(server_settings):
    with serving(create_app(replace(server_settings, api_key=API_KEY))) as url:
        yield url.replace("http://", "ws://") + ROUTE


async def _stream(url: str, pcm: bytes, **connect) -> str:
    """Stream ``pcm`` in 100 ms appends and a second of silence; the item's completed text."""
    async with websockets.connect(url, **connect) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        for event in appends(pcm):
            await ws.send(json.dumps(event))
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": SILENCE}))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if event["type"].endswith("transcription.completed"):
                return event["transcript"]


def test_two_concurrent_sessions_both_complete(keyed_url, speech_pcm):
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async def both() -> list[str]:
        one = _stream(keyed_url, speech_pcm, additional_headers=headers)
        two = _stream(keyed_url, speech_pcm, additional_headers=headers)
        return await asyncio.gather(one, two)

    texts = asyncio.run(both())
    assert all(word_errors(text) <= 0.25 for text in texts), texts


def test_the_key_is_required_and_taken_as_browsers_send_it(keyed_url, speech_pcm):
    async def refused(**connect) -> int:
        with pytest.raises(websockets.exceptions.InvalidStatus) as caught:
            async with websockets.connect(keyed_url, **connect):
                pass
        return caught.value.response.status_code

    assert asyncio.run(refused()) == 401
    assert asyncio.run(refused(additional_headers={"Authorization": "Bearer wrong"})) == 401

    async def browser() -> str:
        protocols = ["realtime", f"openai-insecure-api-key.{API_KEY}"]
        async with websockets.connect(keyed_url, subprotocols=protocols) as ws:
            assert ws.subprotocol == "realtime"
            return json.loads(await ws.recv())["type"]

    assert asyncio.run(browser()) == "session.created"


def test_a_key_is_required_off_loopback(server_settings):
    from polymodal.errors import BadInputError

    with pytest.raises(BadInputError, match="API key"):
        create_app(replace(server_settings, host="0.0.0.0"))


def test_the_official_clients_realtime_connection(keyed_url, speech_pcm):
    openai = pytest.importorskip("openai")
    base = keyed_url.split("/v1/")[0].replace("ws://", "http://") + "/v1"

    async def caption() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=base, api_key=API_KEY)
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            created = await conn.recv()
            for event in appends(speech_pcm):
                await conn.send(event)
            await conn.send({"type": "input_audio_buffer.append", "audio": SILENCE})
            async for event in conn:
                if event.type == "conversation.item.input_audio_transcription.completed":
                    return created.type, event.transcript
        raise AssertionError("the connection ended without a transcript")

    kind, text = asyncio.run(caption())
    assert kind == "session.created"
    assert word_errors(text) <= 0.25, text


def test_the_beta_protocol_gets_its_item_created_event(client, speech_pcm):
    with client.websocket_connect(ROUTE) as ws:
        until(ws, "session.created")
        ws.send_json({"type": "transcription_session.update", "session": {"turn_detection": None}})
        until(ws, "transcription_session.updated")
        for event in appends(speech_pcm):
            ws.send_json(event)
        ws.send_json({"type": "input_audio_buffer.commit"})
        events = until(ws, "conversation.item.input_audio_transcription.completed")
        ws.send_json({"type": "input_audio_buffer.clear"})
        after = until(ws, "input_audio_buffer.cleared")
    kinds = [e["type"] for e in events + after]
    assert kinds[:2] == ["input_audio_buffer.committed", "conversation.item.created"]
    assert events[1]["item"]["object"] == "realtime.item"
    assert events[1]["item"]["id"] == events[0]["item_id"]
    assert "conversation.item.done" not in kinds and "conversation.item.added" not in kinds
