"""The speech routes through FastAPI's TestClient with Whisper tiny.en: every response format,
OpenAI's field names, and a clear 4xx for each bad request."""

from __future__ import annotations

import json

import pytest
import srt
import webvtt
from _server_helpers import transcribe

import polymodal


@pytest.fixture(scope="module")
def verbose(client, speech_wav) -> dict:
    response = transcribe(
        client,
        speech_wav,
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["word", "segment"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_json_is_openais_text_record(client, speech_wav):
    response = transcribe(client, speech_wav)
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/json"
    )
    body = response.json()
    assert set(body) == {"text", "usage"} and body["usage"]["type"] == "duration"
    assert "fox" in body["text"].lower() and "dog" in body["text"].lower()


def test_verbose_json_has_openais_fields_and_ours(verbose, speech_wav):
    assert verbose["task"] == "transcribe" and verbose["language"] == "english"
    assert verbose["duration"] == pytest.approx(polymodal.probe_audio(speech_wav), abs=0.05)
    segment = verbose["segments"][0]
    openai_fields = {"id", "seek", "start", "end", "text", "tokens", "temperature"}
    openai_fields |= {"avg_logprob", "compression_ratio", "no_speech_prob"}
    assert openai_fields | {"suspect_reasons", "language"} == set(segment)
    assert [s["id"] for s in verbose["segments"]] == list(range(len(verbose["segments"])))
    assert segment["language"] == "english" and isinstance(segment["suspect_reasons"], list)
    words = verbose["words"]
    assert words and set(words[0]) == {"word", "start", "end"}
    assert all(w["word"] == w["word"].strip() and w["start"] <= w["end"] for w in words)
    joined = " ".join(s["text"].strip() for s in verbose["segments"])
    assert verbose["text"] == joined


def test_words_only_when_asked_for(client, speech_wav):
    plain = transcribe(client, speech_wav, response_format="verbose_json").json()
    assert "words" not in plain and plain["segments"]
    words_only = transcribe(
        client,
        speech_wav,
        response_format="verbose_json",
        **{"timestamp_granularities[]": "word"},
    ).json()
    assert words_only["words"] and "segments" not in words_only


def test_text_srt_and_vtt_are_the_speech_rooms_renderings(client, speech_wav, verbose):
    text = transcribe(client, speech_wav, response_format="text")
    assert text.headers["content-type"].startswith("text/plain")
    assert "fox" in text.text.lower() and text.text.endswith("\n")
    subtitles = transcribe(client, speech_wav, response_format="srt").text
    cues = list(srt.parse(subtitles))
    assert cues and cues[0].start.total_seconds() >= 0
    assert "fox" in " ".join(c.content for c in cues).lower()
    vtt = transcribe(client, speech_wav, response_format="vtt")
    assert vtt.headers["content-type"].startswith("text/vtt")
    captions = webvtt.from_string(vtt.text).captions
    assert captions and captions[-1].end_in_seconds <= verbose["duration"] + 0.5


def test_silence_is_an_empty_transcript_as_openai_answers_it(client, silence_wav):
    body = transcribe(client, silence_wav).json()
    assert body["text"] == ""
    verbose = transcribe(client, silence_wav, response_format="verbose_json").json()
    assert verbose["segments"] == [] and verbose["duration"] == pytest.approx(2.0, abs=0.01)
    assert transcribe(client, silence_wav, response_format="srt").text == ""


def test_a_catalogue_name_works_and_an_unknown_name_is_404(client, speech_wav):
    assert transcribe(client, speech_wav, model="whisper-tiny.en").status_code == 200
    for name in ("whisper-9", "/etc", "../models", "clip"):
        error = _error(transcribe(client, speech_wav, model=name), 404)
        assert error["param"] == "model" and "whisper-1" in error["message"]


def test_a_known_model_not_on_this_machine_is_503(client, speech_wav, monkeypatch):
    monkeypatch.setenv("POLYMODAL_ALLOW_DOWNLOAD", "0")
    error = _error(transcribe(client, speech_wav, model="whisper-large-v3"), 503)
    assert error["code"] == "model_unavailable" and "whisper-large-v3" in error["message"]


def test_an_upload_that_is_not_audio_is_415_whatever_its_name(client, tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not audio\n" * 200)
    error = _error(transcribe(client, fake), 415)
    assert error["param"] == "file" and error["code"] == "unsupported_media_type"
    assert str(tmp_path) not in error["message"] and "/tmp" not in error["message"]


def test_an_empty_upload_is_400(client, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert _error(transcribe(client, empty), 400)["param"] == "file"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": "2"}, "temperature"),
        ({"temperature": "warm"}, "temperature"),
        ({"response_format": "diarized_xml"}, "response_format"),
        ({"timestamp_granularities[]": "letter"}, "timestamp_granularities[]"),
        ({"language": "klingon"}, "language"),
        ({"language": "de"}, "language"),  # tiny.en reads English only
        ({"stream": "maybe"}, "stream"),
    ],
)
def test_a_bad_field_is_400_naming_it(client, speech_wav, fields, param):
    error = _error(transcribe(client, speech_wav, **fields), 400)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert "/tmp" not in error["message"]


def test_translating_with_an_english_only_model_names_the_model(client, speech_wav):
    with speech_wav.open("rb") as audio:
        response = client.post(
            "/v1/audio/translations",
            data={"model": "whisper-1"},
            files={"file": ("clip.wav", audio)},
        )
    error = _error(response, 400)
    assert error["param"] == "model" and "English-only" in error["message"]


def test_the_openapi_page_documents_the_routes(client):
    paths = json.loads(client.get("/openapi.json").text)["paths"]
    assert {"/v1/audio/transcriptions", "/v1/embeddings", "/v1/models"} <= set(paths)
