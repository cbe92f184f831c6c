"""The official ``openai`` package against a live uvicorn server on 127.0.0.1: what existing
OpenAI clients and apps see, unchanged but for ``base_url``.

Every bad request raises the SDK's own exception type with OpenAI's fields, and the server
keeps serving: a health check passes after each.
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
import srt
import webvtt
from _server_helpers import API_KEY, AUDIO_LIMIT

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def sdk(live_server):
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0, timeout=120)


@pytest.fixture
def healthy(live_server):
    """After the test: the server still answers its health check (no key needed)."""
    yield
    response = httpx.get(f"{live_server}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def _transcribe(sdk, path, model="whisper-1", **options):
    with path.open("rb") as audio:
        return sdk.audio.transcriptions.create(model=model, file=audio, **options)


def test_json_and_verbose_json_parse_as_the_sdks_types(sdk, speech_wav):
    plain = _transcribe(sdk, speech_wav)
    assert isinstance(plain, openai.types.audio.Transcription)
    assert "fox" in plain.text.lower()
    verbose = _transcribe(
        sdk, speech_wav, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert isinstance(verbose, openai.types.audio.TranscriptionVerbose)
    assert verbose.language == "english" and verbose.duration > 1
    assert verbose.segments and verbose.segments[0].id == 0 and verbose.words
    assert verbose.words[0].word.strip() == verbose.words[0].word
    assert verbose.segments[0].model_extra["suspect_reasons"] == []  # our extra field


def test_text_srt_and_vtt_come_back_as_strings(sdk, speech_wav):
    text = _transcribe(sdk, speech_wav, response_format="text")
    assert isinstance(text, str) and "fox" in text.lower()
    cues = list(srt.parse(_transcribe(sdk, speech_wav, response_format="srt")))
    assert cues and "dog" in " ".join(c.content for c in cues).lower()
    captions = webvtt.from_string(_transcribe(sdk, speech_wav, response_format="vtt")).captions
    assert captions


def test_translation_with_a_multilingual_catalogue_model(sdk, speech_wav):
    with speech_wav.open("rb") as audio:
        result = sdk.audio.translations.create(
            model="whisper-base", file=audio, response_format="verbose_json"
        )
    assert isinstance(result, openai.types.audio.TranslationVerbose)
    assert result.language == "english" and "fox" in result.text.lower()


def test_embeddings_with_the_sdks_default_base64_and_with_floats(sdk, clip_dir):
    import polymodal

    texts = ["a photo of a cat", "a red car"]
    expected = polymodal.embed_texts(texts, model=str(clip_dir), cache=False)
    default = sdk.embeddings.create(model="text-embedding-3-small", input=texts)  # base64
    floats = sdk.embeddings.create(model="clip", input=texts, encoding_format="float")
    for response in (default, floats):
        got = np.array([d.embedding for d in response.data], dtype=np.float32)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert response.usage.prompt_tokens > 0


def test_the_model_list(sdk):
    ids = [model.id for model in sdk.models.list()]
    assert "whisper-1" in ids and "whisper-tiny.en" in ids and "text-embedding-3-small" in ids
    assert sdk.models.retrieve("whisper-base").id == "whisper-base"


def test_an_unknown_model_is_the_sdks_not_found_error(sdk, speech_wav, healthy):
    with pytest.raises(openai.NotFoundError) as caught:
        _transcribe(sdk, speech_wav, model="whisper-9")
    assert caught.value.param == "model" and caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="text-embedding-9", input="a")


def test_a_bad_field_is_a_bad_request_error_with_its_param(sdk, speech_wav, healthy):
    with pytest.raises(openai.BadRequestError) as caught:
        _transcribe(sdk, speech_wav, temperature=3)
    assert caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="clip", input="a", dimensions=1536)
    assert caught.value.param == "dimensions"


def test_a_wrong_key_is_the_sdks_authentication_error(live_server, healthy):
    wrong = openai.OpenAI(base_url=f"{live_server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.code == "invalid_api_key"


def test_a_non_audio_upload_is_415(sdk, tmp_path, healthy):
    fake = tmp_path / "voice.wav"
    fake.write_bytes(b"%PDF-1.4\n" + b"not audio at all\n" * 500)
    with pytest.raises(openai.APIStatusError) as caught:
        _transcribe(sdk, fake)
    assert caught.value.status_code == 415 and caught.value.param == "file"


def test_a_too_large_upload_is_413(sdk, tmp_path, healthy):
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (AUDIO_LIMIT + 100_000))
    with pytest.raises(openai.APIStatusError) as caught:
        _transcribe(sdk, big)
    assert caught.value.status_code == 413 and caught.value.param == "file"


def test_healthz_needs_no_key_and_the_rest_does(live_server):
    assert httpx.get(f"{live_server}/healthz").status_code == 200
    assert httpx.get(f"{live_server}/v1/models").status_code == 401


def test_under_load_every_request_is_answered_or_cleanly_refused(server_settings, speech_wav):
    """Eight transcriptions at once against one worker and a queue of two: three are served,
    the rest get 429 with Retry-After at once, and the health check answers meanwhile."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from _server_helpers import serving

    from polymodal.server import FamilyLimits, create_app

    app = create_app(replace(server_settings, speech=FamilyLimits(workers=1, queue=2)))
    audio = speech_wav.read_bytes()
    with serving(app) as url, httpx.Client(base_url=url, timeout=120) as http:

        def post(_: int) -> httpx.Response:
            files = {"file": ("clip.wav", audio)}
            return http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files)

        with ThreadPoolExecutor(8) as pool:
            pending = [pool.submit(post, i) for i in range(8)]
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            health_seconds = time.monotonic() - started
            responses = [f.result() for f in pending]
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429} and statuses.count(200) >= 3 and 429 in statuses
    assert all(r.headers["retry-after"] == "2" for r in responses if r.status_code == 429)
    assert all("fox" in r.json()["text"].lower() for r in responses if r.status_code == 200)
    assert health_seconds < 2.0
