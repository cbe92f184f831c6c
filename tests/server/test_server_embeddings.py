"""``POST /v1/embeddings`` with the tiny random CLIP: OpenAI's shape, both encodings, the
same vectors the library gives, and images (data URLs or bare base64) as our extension."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

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


# --- images, our extension --------------------------------------------------------------------


def picture(seed: int, size: int = 96) -> Image.Image:
    """A small RGB picture of random blocks (different for each seed)."""
    blocks = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((size, size), Image.Resampling.NEAREST)


def image_bytes(image: Image.Image, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def data_url(image: Image.Image, kind: str = "PNG") -> str:
    encoded = base64.b64encode(image_bytes(image, kind)).decode("ascii")
    return f"data:image/{kind.lower()};base64,{encoded}"


def test_images_embed_as_the_library_embeds_them_in_input_order(clip_client, clip_dir):
    encoder = polymodal.get_encoder(str(clip_dir))
    first, second = picture(1), picture(2)
    bare = base64.b64encode(image_bytes(second, "JPEG")).decode("ascii")
    items = [data_url(first), TEXTS[0], bare, TEXTS[1]]
    body = _post(clip_client, input=items, encoding_format="float").json()
    vectors = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert [d["index"] for d in body["data"]] == [0, 1, 2, 3]
    jpeg = Image.open(io.BytesIO(image_bytes(second, "JPEG")))
    np.testing.assert_allclose(vectors[0], encoder.encode_images([first])[0], atol=1e-5)
    np.testing.assert_allclose(vectors[2], encoder.encode_images([jpeg])[0], atol=1e-5)
    np.testing.assert_allclose(vectors[[1, 3]], encoder.encode_texts(TEXTS[:2]), atol=1e-5)
    assert body["usage"]["prompt_tokens"] == int(encoder.tokenize(TEXTS[:2])[1].sum())


def test_base64_looking_text_that_is_no_image_is_embedded_as_text(clip_client, clip_dir):
    text = "QUJD" * 20  # valid base64, but the bytes are "ABC...", not an image
    body = _post(clip_client, input=[text], encoding_format="float").json()
    expected = polymodal.get_encoder(str(clip_dir)).encode_texts([text])
    np.testing.assert_allclose(body["data"][0]["embedding"], expected[0], atol=1e-5)


@pytest.mark.parametrize(
    ("item", "status"),
    [
        ("data:text/plain;base64," + base64.b64encode(b"just some words").decode(), 415),
        ("data:image/png;base64,%%%not-base64%%%", 400),
        ("data:image/png,rawbytes", 400),
        ("https://example.com/cat.png", None),  # not a data URL: a text, fetched by nobody
    ],
)
def test_a_data_url_that_is_no_image_is_refused_naming_input(clip_client, item, status):
    response = _post(clip_client, input=["a cat", item])
    if status is None:
        assert response.status_code == 200 and len(response.json()["data"]) == 2
        return
    assert _error(response, status)["param"] == "input"


def test_a_truncated_image_is_a_400_that_names_the_input_not_a_path(clip_client):
    whole = image_bytes(picture(3, size=256), "JPEG")
    cut = base64.b64encode(whole[: len(whole) // 2]).decode("ascii")
    error = _error(_post(clip_client, input=[f"data:image/jpeg;base64,{cut}"]), 400)
    assert error["param"] == "input" and "input[0]" in error["message"]
    assert "/tmp" not in error["message"] and "polymodal-images" not in error["message"]
