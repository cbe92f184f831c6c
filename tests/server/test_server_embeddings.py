"""``POST /v1/embeddings`` with the tiny random CLIP: OpenAI's shape, both encodings, and the
same vectors the library gives."""

from __future__ import annotations

import base64

import numpy as np
import pytest

import polymodal

TEXTS = ["a photo of a cat", "a red car", "a photo of a cat"]


def _post(client, **body):
    return client.post("/v1/embeddings", json={"model": "text-embedding-3-small", **body})


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture(scope="module")
def expected(clip_dir) -> np.ndarray:
    return polymodal.embed_texts(TEXTS, model=str(clip_dir), cache=False)


def test_float_embeddings_are_the_librarys_vectors_in_openais_shape(clip_client, expected):
    body = _post(clip_client, input=TEXTS, encoding_format="float").json()
    assert body["object"] == "list" and body["model"] == "text-embedding-3-small"
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert {d["object"] for d in body["data"]} == {"embedding"}
    vectors = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    usage = body["usage"]
    assert usage["prompt_tokens"] == usage["total_tokens"] > len(TEXTS)


def test_base64_is_little_endian_float32(clip_client, expected):
    body = _post(clip_client, input=TEXTS, encoding_format="base64").json()
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in body["data"]]
    np.testing.assert_allclose(np.stack(decoded), expected, atol=1e-6)


def test_one_string_is_one_embedding_and_every_alias_is_the_default(clip_client, expected):
    for name in ("text-embedding-3-large", "text-embedding-ada-002", "clip"):
        body = _post(clip_client, input=TEXTS[1], model=name).json()
        assert len(body["data"]) == 1 and body["model"] == name
        np.testing.assert_allclose(body["data"][0]["embedding"], expected[1], atol=1e-6)


def test_dimensions_must_be_the_models(clip_client):
    dim = len(_post(clip_client, input="a").json()["data"][0]["embedding"])
    assert _post(clip_client, input="a", dimensions=dim).status_code == 200
    error = _error(_post(clip_client, input="a", dimensions=dim // 2), 400)
    assert error["param"] == "dimensions" and str(dim) in error["message"]
    assert _error(_post(clip_client, input="a", dimensions=0), 400)["param"] == "dimensions"


@pytest.mark.parametrize(
    "bad_input", ["", [], ["a", "  "], [1, 2, 3], [[1, 2]], {"text": "a"}, ["a"] * 2049]
)
def test_bad_input_is_400_naming_input(clip_client, bad_input):
    assert _error(_post(clip_client, input=bad_input), 400)["param"] == "input"


def test_an_unknown_model_is_404_and_a_whisper_name_is_not_an_embedder(clip_client):
    for name in ("text-embedding-4", "whisper-1", "/tmp"):
        error = _error(_post(clip_client, input="a", model=name), 404)
        assert error["param"] == "model" and error["code"] == "model_not_found"
