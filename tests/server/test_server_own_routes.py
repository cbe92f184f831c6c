"""polymodal's own routes (``/v1/polymodal/...``): each answers what the public API answers on
the same bytes, as ``to_data`` writes it (the CLI's ``--json``), with images named as the
client named them; bad uploads and bad names get their 4xx."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from _image_helpers import photo_bytes, truncated
from fastapi.testclient import TestClient

import polymodal
from polymodal.server import create_app

TESTS = Path(__file__).resolve().parents[1]


def _advisor_fixtures():
    spec = importlib.util.spec_from_file_location(
        "_advisor_fixtures", TESTS / "advisor" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


tiny_detr_dir = _advisor_fixtures().tiny_detr_dir


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    return {f"{name}.png": photo_bytes(name) for name in ("astronaut", "coffee", "chelsea")}


@pytest.fixture(scope="module")
def on_disk(photos, tmp_path_factory) -> dict[str, Path]:
    """The same bytes as files, for the library's own answer."""
    folder = tmp_path_factory.mktemp("own-routes")
    paths = {}
    for name, data in photos.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def _files(field: str, photos: dict[str, bytes], *names: str) -> list[tuple]:
    return [(field, (name, photos[name], "image/png")) for name in names]


def _as_client_named(data, on_disk: dict[str, Path]):
    """The library's data with its file paths written as the client's file names."""
    text = polymodal.to_json(data)
    for name, path in on_disk.items():
        text = text.replace(str(path), name)
    return json.loads(text)


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_classify_is_the_librarys_answer_with_the_advisors_warnings(
    clip_client, photos, on_disk, clip_dir
):
    names = ["astronaut.png", "coffee.png"]
    labels = ["a person", "a cup of coffee", "three dogs"]
    body = _ok(
        clip_client.post(
            "/v1/polymodal/classify",
            files=_files("images", photos, *names),
            data={"labels": ["a person, a cup of coffee", "three dogs"], "route": "false"},
        )
    )
    expected = polymodal.classify(
        [on_disk[n] for n in names], labels, model=str(clip_dir), cache=False, route=False
    )
    assert body == _as_client_named(expected, on_disk)
    assert [item["path"] for item in body["items"]] == names
    assert any(a["label"] == "three dogs" and a["kind"] == "counting" for a in body["advice"])


def test_similarity_of_two_images_of_an_image_and_a_text_and_a_ranking(
    clip_client, photos, on_disk, clip_dir
):
    post = clip_client.post
    model = str(clip_dir)
    image = _files("image", photos, "astronaut.png")
    pair = _ok(
        post("/v1/polymodal/similarity", files=image + _files("other", photos, "coffee.png"))
    )
    expected = polymodal.compare(on_disk["astronaut.png"], on_disk["coffee.png"], model=model)
    assert pair == _as_client_named(expected, on_disk)
    text = _ok(post("/v1/polymodal/similarity", files=image, data={"text": "/etc/passwd"}))
    assert text["b_kind"] == "text" and text["b"] == "/etc/passwd"  # a text is never opened
    among = _files("among", photos, "coffee.png", "chelsea.png")
    ranking = _ok(post("/v1/polymodal/similarity", files=image + among))
    assert sorted(m["path"] for m in ranking["matches"]) == ["chelsea.png", "coffee.png"]
    assert _error(post("/v1/polymodal/similarity", files=image), 400)
    both = post("/v1/polymodal/similarity", files=image + among, data={"text": "x"})
    assert "exactly one" in _error(both, 400)["message"]


def test_dedup_groups_an_uploaded_copy_with_its_original(clip_client, photos):
    files = _files("images", photos, "astronaut.png", "coffee.png")
    files.append(("images", ("copy.png", photos["astronaut.png"], "image/png")))
    body = _ok(clip_client.post("/v1/polymodal/dedup", files=files, data={"semantic": "false"}))
    assert body["scanned"] == 3 and len(body["groups"]) == 1
    group = body["groups"][0]
    assert group["kind"] == "exact"
    assert sorted(f["path"] for f in group["files"]) == ["astronaut.png", "copy.png"]


def test_moderate_lists_every_image_with_the_notice(clip_client, photos, on_disk, clip_dir):
    names = ["astronaut.png", "chelsea.png"]
    body = _ok(clip_client.post("/v1/polymodal/moderate", files=_files("images", photos, *names)))
    expected = polymodal.moderate([on_disk[n] for n in names], model=str(clip_dir), cache=False)
    assert body == _as_client_named(expected, on_disk)
    assert "Screening aid" in body["notice"]


def test_a_truncated_image_among_good_ones_is_a_failure_and_alone_a_400(clip_client, photos):
    cut = ("images", ("cut.png", truncated(photo_bytes("rocket", size=200)), "image/png"))
    files = [*_files("images", photos, "coffee.png"), cut]
    body = _ok(clip_client.post("/v1/polymodal/moderate", files=files))
    assert [f["path"] for f in body["failures"]] == ["cut.png"]
    assert "truncated" in body["failures"][0]["reason"]
    assert "polymodal-images" not in str(body)  # no server path, only the client's names
    error = _error(clip_client.post("/v1/polymodal/moderate", files=[cut]), 400)
    assert "cut.png" in error["message"]
    text = ("images", ("cat.png", b"not a picture at all", "image/png"))
    assert _error(
        clip_client.post("/v1/polymodal/classify", files=[text], data={"labels": "a"}), 415
    )


def test_check_is_the_advisors_answer(clip_client):
    body = _ok(clip_client.post("/v1/polymodal/check", json={"query": "three red cars"}))
    assert body == polymodal.to_data(polymodal.check_query("three red cars"))
    assert body["ok"] is False and "counting" in [v["kind"] for v in body["verdicts"]]
    many = _ok(clip_client.post("/v1/polymodal/check", json={"query": ["a dog", "no cats"]}))
    assert [c["query"] for c in many] == ["a dog", "no cats"]
    assert _error(clip_client.post("/v1/polymodal/check", json={"query": " "}), 400)["param"]


@pytest.fixture(scope="module")
def detector_client(clip_settings, tiny_detr_dir) -> Iterator[TestClient]:
    settings = replace(clip_settings, detector_model=str(tiny_detr_dir))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_count_is_the_detectors_answer(detector_client, photos, on_disk, tiny_detr_dir):
    image = _files("image", photos, "astronaut.png")
    body = _ok(
        detector_client.post(
            "/v1/polymodal/count", files=image, data={"noun": "people", "threshold": "0.05"}
        )
    )
    expected = polymodal.count_objects(
        on_disk["astronaut.png"], "people", model=str(tiny_detr_dir), threshold=0.05
    )
    assert body == _as_client_named(expected, on_disk)
    assert body["label"] == "person"
    unknown = detector_client.post("/v1/polymodal/count", files=image, data={"noun": "zebras"})
    assert _error(unknown, 400)


def test_count_without_a_detector_is_a_503_not_a_crash(clip_client, photos):
    image = _files("image", photos, "astronaut.png")
    response = clip_client.post("/v1/polymodal/count", files=image, data={"noun": "people"})
    assert _error(response, 503)["code"] == "model_unavailable"


def test_collections_add_list_and_search_by_text_and_by_image(clip_client, photos):
    files = _files("images", photos, "astronaut.png", "coffee.png")
    added = _ok(
        clip_client.post("/v1/polymodal/collections/add", files=files, data={"collection": "trip"})
    )
    assert added["collection"] == "trip" and added["added"] == 2
    again = _ok(
        clip_client.post("/v1/polymodal/collections/add", files=files, data={"collection": "trip"})
    )
    assert again["added"] == 0 and again["total"] == 2  # the same bytes are the same images
    listed = _ok(clip_client.get("/v1/polymodal/collections"))
    assert any(c["name"] == "trip" and c["images"] == 2 for c in listed)
    words = {"collection": "trip", "text": "a cup of coffee", "min_score": "-1"}
    by_text = _ok(clip_client.post("/v1/polymodal/collections/search", data=words))
    assert by_text["kind"] == "text" and len(by_text["hits"]) == 2
    example = _files("image", photos, "chelsea.png")
    by_image = _ok(
        clip_client.post(
            "/v1/polymodal/collections/search",
            files=example,
            data={"collection": "trip", "min_score": "-1"},
        )
    )
    assert by_image["kind"] == "image" and by_image["query"] == "chelsea.png"


@pytest.mark.parametrize("name", ["../../etc", "..", "a/b", "/tmp/x", "C:\\x", ""])
def test_a_collection_name_that_looks_like_a_path_is_a_400(clip_client, photos, name):
    search = {"collection": name, "text": "a dog"}
    error = _error(clip_client.post("/v1/polymodal/collections/search", data=search), 400)
    assert error["param"] == "collection"
    files = _files("images", photos, "coffee.png")
    add = clip_client.post("/v1/polymodal/collections/add", files=files, data={"collection": name})
    assert _error(add, 400)["param"] == "collection"
    assert clip_client.get("/healthz").status_code == 200


def test_diarize_gives_speaker_turns_and_refuses_what_is_not_audio(client, speech_wav):
    with speech_wav.open("rb") as audio:
        body = _ok(client.post("/v1/polymodal/diarize", files={"file": ("fox.wav", audio)}))
    expected = polymodal.to_data(polymodal.diarize(speech_wav))
    assert body == expected and body["turns"] and body["labels"]
    not_audio = client.post("/v1/polymodal/diarize", files={"file": ("a.wav", b"plain text")})
    assert _error(not_audio, 415)["param"] == "file"
    bad = client.post(
        "/v1/polymodal/diarize", files={"file": ("a.wav", b"x")}, data={"speakers": "many"}
    )
    assert _error(bad, 400)["param"] == "speakers"


def test_every_own_route_is_on_the_openapi_page(clip_client):
    paths = clip_client.get("/openapi.json").json()["paths"]
    for route in (
        "classify",
        "similarity",
        "dedup",
        "moderate",
        "count",
        "check",
        "collections",
        "collections/search",
        "collections/add",
        "diarize",
    ):
        operation = next(iter(paths[f"/v1/polymodal/{route}"].values()))
        assert operation["description"], route
    assert clip_client.get("/docs").status_code == 200


def test_a_full_image_family_answers_429_and_the_others_keep_serving(clip_client, photos):
    pool = clip_client.app.state.polymodal.images
    for _ in range(pool.limits.capacity):
        pool.admit()
    try:
        files = _files("images", photos, "coffee.png")
        busy = clip_client.post("/v1/polymodal/moderate", files=files)
        assert _error(busy, 429)["code"] == "rate_limit_exceeded"
        assert busy.headers["Retry-After"] == str(pool.retry_after_s)
        assert clip_client.post("/v1/moderations", json={"input": "x"}).status_code == 429
        check = clip_client.post("/v1/polymodal/check", json={"query": "a dog"})
        assert check.status_code == 200  # the advisor has its own pool
    finally:
        for _ in range(pool.limits.capacity):
            pool.release()
    assert clip_client.post("/v1/polymodal/moderate", files=files).status_code == 200
