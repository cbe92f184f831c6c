"""Work nobody waits for is stopped: past the request timeout (504 in OpenAI's shape), when
the client hangs up (the worker is free for the next request), and shutdown lets the work in
flight finish first.

"Stopped early" is measured against the same recording transcribed in full, here and now, so
the tests hold on a busy machine. The library checks the cancel token between windows (the
first comes after voice-activity detection of the whole upload, about 40 % of the full time
here), so an abandoned request lets go of its worker well before the work would have ended;
work that ignored the token would hold it past 90 % of the full time.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from _server_helpers import serving

import polymodal
from polymodal.server import FamilyLimits, ServerSettings, create_app
from polymodal.server.settings import MB

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def longer_wav(long_speech_wav, tmp_path_factory) -> Path:
    """The long passage twice over: about 133 s, five Whisper windows."""
    path = tmp_path_factory.mktemp("server-longer") / "twice.mp3"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "1"]
    command += ["-i", str(long_speech_wav), "-c", "copy", str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.fixture(scope="module")
def full_seconds(longer_wav, server_settings) -> float:
    """Seconds the whole recording takes to transcribe now (the model loaded first)."""
    transcriber = polymodal.Transcriber(server_settings.whisper_model)
    started = time.monotonic()
    transcriber.transcribe(longer_wav)
    return time.monotonic() - started


@pytest.fixture
def settings(server_settings) -> ServerSettings:
    """One speech worker and no queue: a second request is served only once the first lets go."""
    return replace(
        server_settings, max_audio_bytes=25 * MB, speech=FamilyLimits(workers=1, queue=0)
    )


def _post(url: str, path: Path, timeout: httpx.Timeout | float = 120, **fields) -> httpx.Response:
    with path.open("rb") as audio:
        return httpx.post(
            f"{url}/v1/audio/transcriptions",
            data={"model": "whisper-1", **fields},
            files={"file": ("clip.mp3", audio)},
            timeout=timeout,
        )


def _seconds_until_free(pool, limit: float) -> float:
    """Seconds until ``pool`` holds no request (``limit`` at most)."""
    started = time.monotonic()
    while pool.admitted and time.monotonic() - started < limit:
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.slow
def test_work_past_the_timeout_is_stopped_and_answered_504(settings, longer_wav, full_seconds):
    app = create_app(replace(settings, request_timeout_s=1.0))
    pool = app.state.polymodal.speech
    with serving(app) as url:
        started = time.monotonic()
        response = _post(url, longer_wav)
        took = time.monotonic() - started
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert error["code"] == "timeout" and error["type"] == "server_error"
        assert "1 s timeout" in error["message"] and error["param"] is None
        assert took < 0.75 * full_seconds, (took, full_seconds)
        # the admission is released once the answer is sent, a moment after the client has it
        assert _seconds_until_free(pool, 1.0) < 1.0, pool.admitted
        assert pool.submit(lambda: "free").result(timeout=2) == "free"  # the thread let go
        assert httpx.get(f"{url}/healthz").status_code == 200


@pytest.mark.slow
def test_a_client_that_hangs_up_frees_the_worker_for_the_next_request(
    settings, longer_wav, full_seconds, speech_wav
):
    app = create_app(settings)
    pool = app.state.polymodal.speech
    with serving(app) as url:
        with pytest.raises(httpx.ReadTimeout):
            _post(url, longer_wav, timeout=httpx.Timeout(60, read=1.5))
        freed = _seconds_until_free(pool, 2 * full_seconds)
        assert freed < 0.75 * full_seconds, (freed, full_seconds)
        response = _post(url, speech_wav)  # a queue of 0: a held worker would answer 429
        assert response.status_code == 200 and "fox" in response.json()["text"].lower()


@pytest.mark.slow
def test_a_stream_closed_after_its_first_text_stops_the_work(settings, longer_wav, full_seconds):
    app = create_app(settings)
    pool = app.state.polymodal.speech
    with serving(app) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=120)
        with longer_wav.open("rb") as audio:
            stream = sdk.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
            first = next(iter(stream))
            stream.close()
        assert first.type == "transcript.text.delta" and first.delta
        freed = _seconds_until_free(pool, 2 * full_seconds)
        assert freed < 0.75 * full_seconds, (freed, full_seconds)


def test_shutdown_lets_the_work_in_flight_finish(settings, speech_wav):
    app = create_app(settings)
    pool = app.state.polymodal.speech
    answered: list[tuple[float, httpx.Response]] = []
    with serving(app) as url:
        client = threading.Thread(
            target=lambda: answered.append((time.monotonic(), _post(url, speech_wav)))
        )
        client.start()
        deadline = time.monotonic() + 20
        while not pool.admitted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.admitted == 1  # in flight when the server is told to stop
    stopped = time.monotonic()
    client.join(timeout=60)
    ((at, response),) = answered
    assert at <= stopped and response.status_code == 200
    assert "fox" in response.json()["text"].lower()


def test_the_timeout_is_a_setting_and_a_serve_flag(monkeypatch):
    with pytest.raises(polymodal.BadInputError) as caught:
        ServerSettings(request_timeout_s=0).checked()
    assert caught.value.param == "request_timeout_s"
    assert ServerSettings().request_timeout_s == 600.0

    import uvicorn
    from typer.testing import CliRunner

    from polymodal.cli import _register, app

    _register()
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append(application))
    result = CliRunner().invoke(app, ["serve", "--request-timeout", "42.5"])
    assert result.exit_code == 0, result.output
    assert calls[0].state.polymodal.settings.request_timeout_s == 42.5
