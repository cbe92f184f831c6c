"""``POST /v1/moderations``: OpenAI's shape from the official client, image scores that are the
library's own, honest zeros for what is not scored, and every bad image refused plainly."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from _image_helpers import image_item, photo_bytes, png_bomb, truncated
from _server_helpers import API_KEY
from openai.types import Moderation

import polymodal

IMAGE_KEYS = {"sexual": "sexual", "self-harm": "self_harm", "violence": "violence"}
IMAGE_KEYS["violence/graphic"] = "violence"


@pytest.fixture(scope="module")
def openai_client(live_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture(scope="module")
def photo() -> bytes:
    return photo_bytes("astronaut")


def _library(clip_dir: Path, tmp_path: Path, *images: bytes):
    """What polymodal.moderate says about the same bytes (the route must say the same)."""
    paths = []
    for index, data in enumerate(images):
        path = tmp_path / f"photo-{index}.png"
        path.write_bytes(data)
        paths.append(path)
    return polymodal.moderate(paths, model=str(clip_dir), cache=False)


def _keys(model_class) -> set[str]:
    return {field.alias or name for name, field in model_class.model_fields.items()}


def test_an_image_item_is_scored_by_the_librarys_screening(
    openai_client, photo, clip_dir, tmp_path
):
    response = openai_client.moderations.create(
        model="omni-moderation-latest",
        input=[{"type": "text", "text": "what is in this picture?"}, image_item(photo)],
    )
    assert response.id.startswith("modr-") and response.model == "omni-moderation-latest"
    [result] = response.results
    assert isinstance(result, Moderation)
    expected = {s.category: s for s in _library(clip_dir, tmp_path, photo).items[0].scores}
    scores = result.category_scores.model_dump(by_alias=True)
    flags = result.categories.model_dump(by_alias=True)
    applied = result.category_applied_input_types.model_dump(by_alias=True)
    assert set(scores) == set(flags) == set(applied) == _keys(openai.types.moderation.Categories)
    assert len(scores) == 13
    for key in scores:
        ours = expected.get(IMAGE_KEYS.get(key, ""))
        if ours is None:  # not scored: honestly zero, and no input type claimed
            assert (scores[key], flags[key], applied[key]) == (0.0, False, [])
        else:
            assert scores[key] == pytest.approx(ours.score, abs=1e-4)
            assert flags[key] is ours.flagged and applied[key] == ["image"]
    extra = result.model_extra["polymodal"]
    assert result.flagged is any(s.flagged for s in expected.values())
    assert set(extra["categories"]) == set(expected)  # weapons, drugs ... are reported too
    assert extra["scored_input_types"] == ["image"] and "Text is not scored" in extra["notice"]


def test_strings_get_one_unscored_result_each(openai_client):
    response = openai_client.moderations.create(input=["first text", "second text", "third"])
    assert len(response.results) == 3
    for result in response.results:
        assert result.flagged is False
        assert set(result.category_scores.model_dump().values()) == {0.0}
        assert all(v == [] for v in result.category_applied_input_types.model_dump().values())
        assert "Text is not scored" in result.model_extra["polymodal"]["notice"]
    single = openai_client.moderations.create(input="one text", model="text-moderation-latest")
    assert len(single.results) == 1 and single.model == "text-moderation-latest"


def test_several_images_in_one_input_give_one_result_with_the_highest_scores(
    clip_client, clip_dir, tmp_path
):
    images = [photo_bytes("astronaut"), photo_bytes("coffee"), photo_bytes("chelsea")]
    body = clip_client.post("/v1/moderations", json={"input": [image_item(i) for i in images]})
    assert body.status_code == 200, body.text
    [result] = body.json()["results"]
    library = _library(clip_dir, tmp_path, *images)
    for key, ours in IMAGE_KEYS.items():
        highest = max(s.score for item in library for s in item.scores if s.category == ours)
        assert result["category_scores"][key] == pytest.approx(highest, abs=1e-4)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_links_are_refused_the_server_fetches_nothing(openai_client):
    for url in ("https://example.com/cat.png", "http://127.0.0.1:1/x.png"):
        item = {"type": "image_url", "image_url": {"url": url}}
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client.moderations.create(input=[item])
        assert caught.value.body["param"] == "input"
        assert "fetches nothing" in caught.value.body["message"]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"a shopping list, not a picture\n", 415, "not an image"),
        (truncated(photo_bytes("coffee", size=200)), 400, "truncated"),
        (png_bomb(), 413, "decompression bomb"),
        (png_bomb(13_000, 12_000), 413, "decompression bomb"),  # under PIL's own limit
        (b"", 400, "empty"),
    ],
    ids=["not-an-image", "truncated", "bomb", "bomb-under-pil-limit", "empty"],
)
def test_bad_image_bytes_get_their_status_and_the_server_keeps_serving(
    clip_client, data, status, words
):
    error = _error(clip_client.post("/v1/moderations", json={"input": [image_item(data)]}), status)
    assert words in error["message"] and error["param"] == "input"
    assert "/tmp" not in error["message"]  # named as the client sent it, not by a server path
    assert clip_client.get("/healthz").status_code == 200


def test_bad_requests_name_their_field(clip_client, photo):
    post = clip_client.post
    assert _error(post("/v1/moderations", json={"input": []}), 400)["param"] == "input"
    assert _error(post("/v1/moderations", json={}), 400)["param"] == "input"
    base64_less = {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}
    assert _error(post("/v1/moderations", json={"input": [base64_less]}), 400)["param"] == "input"
    too_many = {"input": [image_item(photo)] * 9}
    assert "limit" in _error(post("/v1/moderations", json=too_many), 400)["message"]
    unknown = _error(post("/v1/moderations", json={"input": "x", "model": "gpt-4o"}), 404)
    assert unknown["param"] == "model" and "omni-moderation-latest" in unknown["message"]


def test_the_route_and_its_zeros_are_documented_in_the_openapi_page(clip_client):
    operation = clip_client.get("/openapi.json").json()["paths"]["/v1/moderations"]["post"]
    assert "false/0" in operation["description"] and "not scored" in operation["description"]
