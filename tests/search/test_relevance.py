"""Honest relevance with controlled embeddings: absent things find nothing, present ones their
cluster first; and the confidence arithmetic itself."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _search_helpers import ChosenVectors, drawing

from polymodal.search import Collection
from polymodal.search.relevance import background, confidences


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def chosen(tmp_path):
    """Red and blue drawings whose vectors share a 'photo' direction (as real CLIP's do) plus
    their colour's; texts for red, blue and something absent from the collection."""
    dim = 16
    axes = np.eye(dim, dtype=np.float32)
    neutral = axes[0]
    encoder = ChosenVectors(
        colours={
            "red": unit(0.6 * neutral + axes[1]),
            "blue": unit(0.6 * neutral + axes[2]),
            "green": unit(0.6 * neutral + axes[3]),
        },
        texts={
            "something red": unit(0.3 * neutral + axes[1]),
            "a unicorn": unit(0.3 * neutral + axes[7]),
            "three unicorns": unit(0.3 * neutral + axes[7]),
        },
        neutral=neutral,
    )
    folder = tmp_path / "drawings"
    folder.mkdir()
    for index in range(3):
        drawing(folder / f"red-{index}.png", "red", size=(200 + index, 100))
        drawing(folder / f"blue-{index}.png", "blue", "rectangle", size=(200 + index, 100))
    collection = Collection("drawings", db=tmp_path / "db", model=encoder)
    collection.add(folder)
    return collection, folder


def test_a_query_near_a_cluster_gets_that_cluster_first(chosen):
    collection, _ = chosen
    result = collection.search("something red", k=10)
    names = [os.path.basename(hit.path) for hit in result.hits]
    assert names and all(name.startswith("red-") for name in names)
    assert len(names) == 3 and result.message is None
    assert all(hit.confidence > 0.9 for hit in result.hits)


def test_a_query_far_from_every_image_says_nothing_matches(chosen):
    collection, _ = chosen
    result = collection.search("a unicorn")
    assert result.hits == ()
    assert "matches 'a unicorn' confidently" in result.message
    assert result.best_confidence < 0.5 and result.considered == 6
    anyway = collection.search("a unicorn", min_score=-1, k=4)
    assert len(anyway.hits) == 4  # --min-score overrides: the nearest whatever they are


def test_an_example_unlike_the_collection_finds_nothing(chosen, tmp_path):
    collection, folder = chosen
    green = drawing(tmp_path / "green.png", "green")
    assert collection.search(image=green).hits == ()
    own = collection.search(image=folder / "blue-1.png", k=10)
    assert {os.path.basename(h.path)[:4] for h in own.hits} == {"blue"}


def test_the_advisor_warns_about_a_counting_query(chosen):
    from polymodal import search_images

    collection, _ = chosen
    result = search_images("three unicorns", collection=collection)
    assert result.hits == ()
    assert [a.kind for a in result.advice] == ["counting"]
    assert result.routed and result.routed[0].task == "count"


def test_confidence_is_half_where_query_and_background_tie():
    x = unit([1.0, 1.0, 0.0])
    query, backdrop = unit([1.0, 0.0, 0.0]), unit([0.0, 1.0, 0.0])
    assert confidences(query, x[None], backdrop, 100.0)[0] == pytest.approx(0.5)
    closer = unit([1.0, 0.5, 0.0])
    assert confidences(query, closer[None], backdrop, 100.0)[0] > 0.99
    assert background(np.stack([query, backdrop])) == pytest.approx(unit([1.0, 1.0, 0.0]))
