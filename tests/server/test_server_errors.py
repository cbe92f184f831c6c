"""Every failure in OpenAI's error shape with its status, and the layers that refuse requests
before any model work: the API key, the body limit and a family's admission."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from polymodal.errors import BadInputError, ModelUnavailableError, TooLargeError
from polymodal.server import FamilyLimits, ServerSettings, create_app
from polymodal.server.errors import error_body

KEY = "s3cret"


def _shape(response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].endswith(".")
    return error


@pytest.fixture(scope="module")
def bare():
    """An app with no models configured: these tests never reach one."""
    with TestClient(create_app(ServerSettings(max_audio_bytes=1000, max_json_bytes=2000))) as c:
        yield c


def test_library_errors_keep_their_status_type_and_param():
    body = error_body(ModelUnavailableError("No such model.", param="model"))["error"]
    assert body == {
        "message": "No such model.",
        "type": "model_not_found",
        "param": "model",
        "code": "model_not_found",
    }
    assert error_body(TooLargeError("Too big."))["error"]["code"] == "request_too_large"
    assert error_body(BadInputError("Bad."))["error"]["type"] == "invalid_request_error"


def test_unknown_routes_and_methods_are_404_and_405_in_openai_shape(bare):
    error = _shape(bare.get("/v1/chat/nothing"), 404)
    assert error["message"] == "Invalid URL (GET /v1/chat/nothing)."
    _shape(bare.get("/v1/embeddings"), 405)


def test_validation_errors_are_400_naming_the_field_not_fastapis_422(bare):
    error = _shape(bare.post("/v1/embeddings", json={"input": "a cat"}), 400)
    assert error["param"] == "model" and "Missing required parameter" in error["message"]
    error = _shape(
        bare.post("/v1/embeddings", json={"input": "a", "model": "clip", "encoding_format": "hex"}),
        400,
    )
    assert error["param"] == "encoding_format"
    error = _shape(bare.post("/v1/embeddings", content=b"{not json", headers=_json()), 400)
    assert "detail" not in error


def _json() -> dict[str, str]:
    return {"content-type": "application/json"}


def test_image_variations_are_a_clear_501_that_points_to_edits(bare):
    error = _shape(bare.post("/v1/images/variations", json={"prompt": "a cat"}), 501)
    assert "edits without a mask" in error["message"]


def test_image_generation_without_its_model_here_is_a_503(bare):
    error = _shape(bare.post("/v1/images/generations", json={"prompt": "a cat"}), 503)
    assert "sd-1.5" in error["message"]


def test_a_body_over_the_limit_is_413_before_it_is_read(bare):
    error = _shape(
        bare.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"x" * 5000)}), 413
    )
    assert error["param"] == "file" and "1,000 bytes limit" in error["message"]
    _shape(bare.post("/v1/embeddings", json={"input": "x" * 3000, "model": "clip"}), 413)
    assert bare.get("/healthz").json() == {"status": "ok"}


def test_a_streamed_body_without_length_is_stopped_at_the_limit(bare):
    def chunks():
        for _ in range(10):
            yield b"y" * 500

    response = bare.post("/v1/embeddings", content=chunks(), headers=_json())
    assert _shape(response, 413)["code"] == "request_too_large"


@pytest.fixture(scope="module")
def keyed():
    with TestClient(create_app(ServerSettings(host="0.0.0.0", api_key=KEY))) as c:
        yield c


def test_with_a_key_every_route_but_healthz_needs_it(keyed):
    assert keyed.get("/healthz").status_code == 200
    missing = keyed.get("/v1/models")
    assert _shape(missing, 401)["code"] == "invalid_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = keyed.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert _shape(wrong, 401)["message"] == "Incorrect API key provided."
    _shape(keyed.get("/v1/models", headers={"Authorization": f"Basic {KEY}"}), 401)
    # unknown routes are hidden behind the key too
    _shape(keyed.get("/v1/secret"), 401)
    assert keyed.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_an_unauthorised_upload_is_refused_before_its_body_is_read(keyed):
    response = keyed.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"x" * 100)})
    _shape(response, 401)


def test_a_full_family_answers_429_with_retry_after_at_once():
    settings = replace(ServerSettings(), embeddings=FamilyLimits(workers=1, queue=0))
    app = create_app(replace(settings, retry_after_s=7))
    pool = app.state.polymodal.embeddings
    with TestClient(app) as c:
        pool.admit()  # the one place is taken
        try:
            response = c.post("/v1/embeddings", json={"input": "a", "model": "clip"})
            assert _shape(response, 429)["code"] == "rate_limit_exceeded"
            assert response.headers["retry-after"] == "7"
            # other families and the health check are not held up
            assert c.get("/healthz").status_code == 200
            assert c.get("/v1/models").status_code == 200
        finally:
            pool.release()
        again = c.post("/v1/embeddings", json={"input": "", "model": "clip"})
        assert _shape(again, 400)["param"] == "input"
        assert pool.admitted == 0
