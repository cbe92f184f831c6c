"""``stream=true`` on the transcription route, read by the official ``openai`` client: text
arrives as windows are decoded, the deltas add up to the final text, and an error mid-stream
is the client's ``APIError``."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import ClassVar

import httpx
import pytest
from _server_helpers import API_KEY, serving

import polymodal
from polymodal.server import create_app
from polymodal.speech import Segment

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def sdk(live_server):
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0, timeout=120)


def _timed_events(stream) -> list[tuple[float, object]]:
    """Each event of ``stream`` with the monotonic time it arrived."""
    return [(time.monotonic(), event) for event in stream]


@pytest.mark.slow
def test_a_stream_sends_text_as_windows_decode_and_ends_with_the_whole_text(sdk, long_speech_wav):
    with long_speech_wav.open("rb") as audio:
        stream = sdk.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
        events = _timed_events(stream)
    kinds = [event.type for _, event in events]
    assert kinds[-1] == "transcript.text.done" and kinds.count("transcript.text.done") == 1
    assert set(kinds[:-1]) == {"transcript.text.delta"} and len(kinds) > 3
    deltas = [event for _, event in events[:-1]]
    assert all(isinstance(e, openai.types.audio.TranscriptionTextDeltaEvent) for e in deltas)
    done = events[-1][1]
    assert "".join(e.delta for e in deltas) == done.text
    assert "warehouse" in done.text.lower() and "thursday" in done.text.lower()
    # The first window's text came while the last window was still being decoded.
    first_at, last_at = events[0][0], events[-2][0]
    assert last_at - first_at > 0.5
    with long_speech_wav.open("rb") as audio:
        whole = sdk.audio.transcriptions.create(model="whisper-1", file=audio)
    assert whole.text == done.text


def test_a_short_clip_streams_too_and_silence_streams_only_done(sdk, speech_wav, silence_wav):
    with speech_wav.open("rb") as audio:
        events = list(sdk.audio.transcriptions.create(model="whisper-1", file=audio, stream=True))
    assert events[0].type == "transcript.text.delta" and "fox" in events[-1].text.lower()
    with silence_wav.open("rb") as audio:
        events = list(sdk.audio.transcriptions.create(model="whisper-1", file=audio, stream=True))
    assert [(e.type, e.text) for e in events] == [("transcript.text.done", "")]


def test_a_verbose_json_stream_ends_with_the_verbose_body_as_extensions(sdk, speech_wav):
    with speech_wav.open("rb") as audio:
        events = list(
            sdk.audio.transcriptions.create(
                model="whisper-1",
                file=audio,
                stream=True,
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
            )
        )
    done = events[-1]
    assert isinstance(done, openai.types.audio.TranscriptionTextDoneEvent)
    assert "".join(e.delta for e in events[:-1]) == done.text  # OpenAI's fields unchanged
    extra = done.model_extra
    assert set(extra) == {"task", "language", "duration", "segments", "words"}
    with speech_wav.open("rb") as audio:
        whole = sdk.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert (extra["task"], extra["language"]) == ("transcribe", "english")
    assert extra["duration"] == whole.duration
    segments = [openai.types.audio.TranscriptionSegment(**s) for s in extra["segments"]]
    assert [s.id for s in segments] == list(range(len(segments))) and segments
    assert " ".join(s.text.strip() for s in segments) == done.text == whole.text
    assert [(s.start, s.end) for s in segments] == [(s.start, s.end) for s in whole.segments]
    for segment in extra["segments"]:
        assert segment["suspect_reasons"] == [] and segment["language"] == "english"
    words = [w["word"] for w in extra["words"]]
    assert words == [w.word for w in whole.words] and "fox" in " ".join(words).lower()


def test_other_streams_carry_no_extensions(sdk, speech_wav):
    with speech_wav.open("rb") as audio:
        events = list(
            sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, stream=True, response_format="srt"
            )
        )
    assert all(not e.model_extra for e in events) and "fox" in events[-1].text.lower()


def test_errors_before_the_first_text_keep_their_http_status(sdk, speech_wav, tmp_path):
    with speech_wav.open("rb") as audio, pytest.raises(openai.NotFoundError) as caught:
        sdk.audio.transcriptions.create(model="whisper-9", file=audio, stream=True)
    assert caught.value.param == "model"
    fake = tmp_path / "voice.wav"
    fake.write_bytes(b"not audio at all\n" * 500)
    with fake.open("rb") as audio, pytest.raises(openai.APIStatusError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
    assert caught.value.status_code == 415


class _FailsAfterOneSegment:
    """A transcriber whose input turns bad after its first segment (as a file truncated
    mid-way would): what the route does then is the point, not the decoding."""

    model_name = "whisper-fake"

    def __init__(self, name: str | None) -> None:
        pass

    def transcribe_stream(self, path, options, *, speakers, cancel):
        yield Segment(id=1, start=0.0, end=1.5, text=" Hello there.")
        raise polymodal.BadInputError("The uploaded file is corrupt after 1.5 s.", param="file")


def test_an_error_mid_stream_is_an_error_event_the_sdk_raises(
    server_settings, speech_wav, monkeypatch
):
    monkeypatch.setattr(polymodal, "Transcriber", _FailsAfterOneSegment)
    with serving(create_app(server_settings)) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        seen = []
        with speech_wav.open("rb") as audio, pytest.raises(openai.APIError) as caught:
            for event in sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, stream=True
            ):
                seen.append(event)
        assert [e.delta for e in seen] == ["Hello there."]
        assert "corrupt after 1.5 s" in caught.value.message
        assert caught.value.body["param"] == "file" and caught.value.body["type"]
        with speech_wav.open("rb") as audio:
            raw = httpx.post(
                f"{url}/v1/audio/transcriptions",
                data={"model": "whisper-1", "stream": "true"},
                files={"file": ("clip.wav", audio)},
                timeout=60,
            )
        assert raw.status_code == 200 and raw.headers["content-type"].startswith(
            "text/event-stream"
        )
        lines = [line for line in raw.text.split("\n") if line]
        assert all(line.startswith("data: ") for line in lines)  # data-only, no event: lines
        assert lines[-1].startswith('data: {"error": {"message": "The uploaded file is corrupt')
        assert httpx.get(f"{url}/healthz").status_code == 200


class _StallsAfterOneSegment:
    """A transcriber that sends one segment, then works on until its cancel token is set
    (at its next window, as the library checks it)."""

    model_name = "whisper-fake"
    cancelled: ClassVar[list[str]] = []

    def __init__(self, name: str | None) -> None:
        pass

    def transcribe_stream(self, path, options, *, speakers, cancel):
        yield Segment(id=1, start=0.0, end=1.5, text=" Hello there.")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if cancel.cancelled:
                self.cancelled.append(cancel.reason)
            cancel.raise_if_cancelled()
            time.sleep(0.02)


def test_a_stream_past_the_timeout_ends_with_a_timeout_error_and_stops_the_work(
    server_settings, speech_wav, monkeypatch
):
    monkeypatch.setattr(polymodal, "Transcriber", _StallsAfterOneSegment)
    app = create_app(replace(server_settings, request_timeout_s=1.0))
    with serving(app) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        seen = []
        started = time.monotonic()
        with speech_wav.open("rb") as audio, pytest.raises(openai.APIError) as caught:
            for event in sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, stream=True
            ):
                seen.append(event)
        assert time.monotonic() - started < 10
        assert [e.delta for e in seen] == ["Hello there."]
        assert caught.value.code == "timeout" and "1 s timeout" in caught.value.message
        assert _StallsAfterOneSegment.cancelled == ["it ran past the server's 1 s request timeout"]
        pool, deadline = app.state.polymodal.speech, time.monotonic() + 5
        while pool.admitted and time.monotonic() < deadline:  # the last bytes may beat the return
            time.sleep(0.02)
        assert pool.admitted == 0
