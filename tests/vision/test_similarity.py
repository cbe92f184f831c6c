"""Similarity and ranking from controlled embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest
from _vision_helpers import FakeClip, touch_images, unit

from polymodal.errors import BadInputError
from polymodal.vision.similarity import compare, rank_similar, similarity


@pytest.fixture
def images(tmp_path):
    return touch_images(tmp_path / "pool", ["query", "twin", "cousin", "stranger"])


@pytest.fixture
def fake(monkeypatch):
    vectors = {
        "query": unit(1, 0, 0),
        "twin": unit(0.98, 0.2, 0),
        "cousin": unit(0.6, 0.8, 0),
        "stranger": unit(0, 0.1, 1),
    }
    texts = {"a red bicycle": unit(0.3, 0, 1)}
    return FakeClip(images=vectors, texts=texts).install(monkeypatch)


def test_image_image_cosine(fake, images):
    score = similarity(images["query"], images["cousin"])
    assert score == pytest.approx(float(fake.images["query"] @ fake.images["cousin"]), abs=1e-6)
    assert similarity(images["twin"], images["twin"]) == pytest.approx(1.0, abs=1e-6)


def test_image_and_text(fake, images):
    expected = float(fake.images["stranger"] @ fake.texts["a red bicycle"])
    got = similarity(images["stranger"], text="a red bicycle")
    assert got == pytest.approx(expected, abs=1e-6)
    found = compare(images["stranger"], text="a red bicycle")
    assert (found.b, found.b_kind, found.model_id) == ("a red bicycle", "text", "fake-clip")
    assert found.similarity == pytest.approx(expected, abs=1e-6)
    assert fake.text_calls == [["a red bicycle"], ["a red bicycle"]]


def test_a_text_that_names_a_file_is_still_a_text(fake, images):
    """Bug: any string naming an existing file (or looking like one) was opened as an image;
    a server must never open a path that came from request text."""
    fake.texts = {str(images["twin"]): unit(0, 0, 1)}
    score = similarity(images["query"], text=str(images["twin"]))
    assert score == pytest.approx(float(fake.images["query"] @ unit(0, 0, 1)), abs=1e-6)
    assert fake.image_calls == [[str(images["query"])]]  # the twin file was never embedded
    assert fake.text_calls == [[str(images["twin"])]]


def test_missing_image_is_an_error_not_a_text(fake, images):
    with pytest.raises(BadInputError, match="does not exist") as missing:
        similarity(images["query"], "holiday/beach.jpg")
    assert missing.value.param == "other"
    with pytest.raises(BadInputError):
        similarity(images["query"], Path("nowhere.png"))
    with pytest.raises(BadInputError) as empty:
        similarity(images["query"], text="   ")
    assert empty.value.param == "text"
    with pytest.raises(BadInputError):
        similarity(images["query"], images["twin"], text="a cat")
    with pytest.raises(BadInputError):
        similarity(images["query"])


def test_rank_similar_orders_candidates_and_skips_the_query(fake, images):
    ranking = rank_similar(images["query"], images["query"].parent)
    assert [Path(m.path).stem for m in ranking] == ["twin", "cousin", "stranger"]
    scores = [m.score for m in ranking]
    assert scores == sorted(scores, reverse=True)
    assert ranking[0].score == pytest.approx(float(fake.images["query"] @ fake.images["twin"]))
    assert len(rank_similar(images["query"], images["query"].parent, top_k=2)) == 2


def test_rank_similar_reports_bad_candidates(fake, images, tmp_path):
    junk = tmp_path / "pool" / "junk.png"
    junk.write_text("not an image")
    ranking = rank_similar(images["query"], [images["twin"], junk, images["stranger"]])
    assert [Path(m.path).stem for m in ranking] == ["twin", "stranger"]
    assert [f.path for f in ranking.failures] == [str(junk)]
    with pytest.raises(BadInputError):
        rank_similar(junk, [images["twin"]])
    with pytest.raises(BadInputError):
        rank_similar(images["query"], [images["twin"]], top_k=0)
