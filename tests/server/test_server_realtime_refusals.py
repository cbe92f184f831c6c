"""The realtime socket's refusals that ``test_server_realtime`` leaves out: binary frames, the
beta spelling of a wrong audio format, an oversize append followed by normal use, and a wrong
key sent the way browsers send it; each is an ``error`` event or a refused upgrade, and the
server goes on serving."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace

import pytest
from _server_helpers import API_KEY, serving
from fastapi.testclient import TestClient

from polymodal.server import create_app
from polymodal.server.openai.realtime import RealtimeLimits

websockets = pytest.importorskip("websockets")

ROUTE = "/v1/realtime?intent=transcription"
PLAIN_UPDATE = {"type": "session.update", "session": {"type": "transcription"}}


@pytest.fixture(scope="module")
def app(server_settings):
    return create_app(server_settings)


def still_serving(ws) -> None:
    """The session answers an update after whatever came before."""
    ws.send_json(PLAIN_UPDATE)
    assert ws.receive_json()["type"] == "session.updated"


def test_a_binary_frame_is_an_error_event(app):
    with TestClient(app) as client, client.websocket_connect(ROUTE) as ws:
        ws.receive_json()
        ws.send_bytes(b"\0\1" * 100)
        error = ws.receive_json()
        assert error["type"] == "error" and "JSON text frames" in error["error"]["message"]
        still_serving(ws)


def test_the_beta_spelling_of_a_wrong_format_is_refused(app):
    with TestClient(app) as client, client.websocket_connect(ROUTE) as ws:
        ws.receive_json()
        beta = {"input_audio_format": "g711_ulaw"}
        ws.send_json({"type": "transcription_session.update", "session": beta})
        error = ws.receive_json()
        assert error["type"] == "error" and "pcm16" in error["error"]["message"]
        assert error["error"]["param"] == "session.input_audio_format"
        still_serving(ws)


def test_after_an_oversize_append_the_session_goes_on(app):
    app.state.polymodal_realtime_hub = None
    app.state.polymodal_realtime = RealtimeLimits(max_append_bytes=4800)
    try:
        with TestClient(app) as client, client.websocket_connect(ROUTE) as ws:
            ws.receive_json()
            big = base64.b64encode(b"\0" * 9600).decode()
            ws.send_json({"type": "input_audio_buffer.append", "audio": big, "event_id": "big"})
            error = ws.receive_json()
            assert error["type"] == "error" and error["error"]["event_id"] == "big"
            small = base64.b64encode(b"\0" * 4800).decode()
            ws.send_json({"type": "input_audio_buffer.append", "audio": small})
            still_serving(ws)  # the small append was taken without a word, as OpenAI does
    finally:
        app.state.polymodal_realtime = RealtimeLimits()
        app.state.polymodal_realtime_hub = None


def test_a_wrong_key_in_the_browsers_subprotocol_is_refused(server_settings):
    """401 before the upgrade, however often, and refused upgrades hold no session slot."""
    limits = RealtimeLimits(max_sessions=1)

    async def attempt(url: str, key: str) -> int | str:
        protocols = ["realtime", f"openai-insecure-api-key.{key}"]
        try:
            async with websockets.connect(url, subprotocols=protocols) as ws:
                return json.loads(await ws.recv())["type"]
        except websockets.exceptions.InvalidStatus as refused:
            return refused.response.status_code

    app = create_app(replace(server_settings, api_key=API_KEY))
    app.state.polymodal_realtime = limits
    with serving(app) as base:
        url = base.replace("http://", "ws://") + ROUTE
        answers = [asyncio.run(attempt(url, "wrong-key")) for _ in range(3)]
        answers.append(asyncio.run(attempt(url, API_KEY)))
    assert answers == [401, 401, 401, "session.created"]
