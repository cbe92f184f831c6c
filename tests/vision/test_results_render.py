"""Every vision result type goes through the one serialiser and back unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polymodal import render
from polymodal.advisor.check import QueryCheck, Verdict, check_query
from polymodal.advisor.diagnosis import Scored
from polymodal.vision.cache import CacheStats, ModelCacheStats
from polymodal.vision.classify import ClassificationResult, ImageLabels, LabelScore
from polymodal.vision.dedup_report import DuplicateFile, DuplicateGroup, DuplicateReport
from polymodal.vision.embed import Failure, ImageBatch, ImageEmbeddings
from polymodal.vision.moderate import CategoryScore, ImageModeration, ModerationResult
from polymodal.vision.output import EmbeddingExport
from polymodal.vision.similarity import Comparison, Match, Ranking

FAILURE = Failure("bad.jpg", "Image file 'bad.jpg' is empty (0 bytes).")
VECTORS = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)

RESULTS = [
    ImageEmbeddings(("a.jpg", "b.png"), VECTORS, (FAILURE,), "tiny", 1, 1),
    ImageBatch((0, 2), ("a.jpg", "b.png"), VECTORS, (1,), (FAILURE,), "tiny", 2, 0),
    ClassificationResult(
        items=(
            ImageLabels(
                "a.jpg",
                (LabelScore("cat", 0.75, 0.31, True), LabelScore("dog", 0.25, 0.2, False)),
                ("cat",),
            ),
        ),
        failures=(FAILURE,),
        labels=("cat", "dog"),
        templates=("a photo of a {}.",),
        multi_label=False,
        model_id="tiny",
        logit_scale=100.0,
    ),
    Ranking("q.jpg", (Match("a.jpg", 0.9), Match("b.jpg", 0.5)), (FAILURE,), "tiny"),
    Comparison("a.jpg", "a cat", "text", 0.27, "tiny"),
    DuplicateReport(
        groups=(
            DuplicateGroup(
                "near-exact",
                "a.jpg",
                (
                    DuplicateFile("a.jpg", 40, 30, 1200, "keeper", 0, None),
                    DuplicateFile("b.jpg", 20, 15, 400, "near-exact", 3, 0.98),
                ),
            ),
        ),
        failures=(FAILURE,),
        scanned=3,
        hash_distance=18,
        semantic_threshold=None,
        model_id=None,
    ),
    ModerationResult(
        items=(
            ImageModeration(
                "a.jpg",
                True,
                ("weapons",),
                (CategoryScore("weapons", 0.8, 0.5, True, "a photo of a gun"),),
            ),
        ),
        failures=(),
        categories=("weapons",),
        model_id="tiny",
    ),
    CacheStats("/c/embeddings.sqlite3", 4096, 3, 1, (ModelCacheStats("tiny", 3, 1),)),
    EmbeddingExport("image", 2, "tiny", 2, 1, 1, ("v.npy", "v.json"), (FAILURE,)),
    QueryCheck("three dogs", (Verdict("counting", "why", "instead", "three"),)),
    Scored("a photo of a dog", 0.31),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_round_trip(result):
    data = render.to_data(result)
    json.dumps(data)  # plain JSON data, nothing left for a custom encoder
    assert render.from_data(type(result), data) == result


def test_arrays_compare_by_value():
    same = ImageEmbeddings(("a.jpg", "b.png"), VECTORS.copy(), (FAILURE,), "tiny", 1, 1)
    assert same == RESULTS[0]
    other = ImageEmbeddings(("a.jpg", "b.png"), VECTORS[::-1], (FAILURE,), "tiny", 1, 1)
    assert other != RESULTS[0]


def test_query_check_renders_ok():
    data = render.to_data(check_query("a sunset over the sea"))
    assert data["ok"] is True and data["verdicts"][0]["kind"] == "ok"
    assert render.to_data(RESULTS[-2])["ok"] is False
