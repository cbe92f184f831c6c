"""diagnose() with controlled embeddings: ranks, margin, warnings and suggestions."""

from __future__ import annotations

import numpy as np
import pytest

import polymodal.vision as vision
from polymodal.advisor.diagnosis import diagnose, rephrasings, vocabulary
from polymodal.errors import BadInputError


class _Embedded:
    def __init__(self, vectors, failures=()):
        self.vectors = vectors
        self.failures = failures


class _Failure:
    path = "broken.jpg"
    reason = "Image file 'broken.jpg' is corrupt."


class _Encoder:
    logit_scale = 100.0


def _cos(angle: float) -> float:
    return float(np.cos(np.radians(angle)))


@pytest.fixture
def angles(monkeypatch):
    """The image sits on the x axis; each text gets an angle, so its cosine is known (else 85°)."""
    table: dict[str, float] = {}

    def embed_texts(texts, model=None):
        rad = np.radians([table.get(t, 85.0) for t in texts])
        return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)

    image = np.array([[1.0, 0.0]], dtype=np.float32)
    monkeypatch.setattr(vision, "embed_images", lambda paths, model=None: _Embedded(image))
    monkeypatch.setattr(vision, "embed_texts", embed_texts)
    monkeypatch.setattr(vision, "get_encoder", lambda model=None: _Encoder())
    return table


def test_a_winning_competitor_and_a_better_phrasing_are_reported(angles):
    angles.update({"a dog": 75.0, "a photo of a dog": 70.0, "a photo of a cat": 60.0})
    result = diagnose("img.jpg", "a dog", competitors=["wolf"])
    assert result.score == pytest.approx(_cos(75), abs=1e-4)
    assert not result.low_score
    assert result.competitors[0].text == "cat"
    assert result.margin == pytest.approx(_cos(75) - 0.5, abs=1e-4)
    assert (result.competitor_rank, result.rephrasing_rank) == (2, 2)
    assert result.rephrasings[0].text == "a photo of a dog"
    assert any("'cat'" in w for w in result.warnings)
    assert any("Rephrase as 'a photo of a dog'" in s for s in result.suggestions)
    assert "dog" not in [c.text for c in result.competitors]  # its own label is no rival
    assert "wolf" not in [c.text for c in result.competitors[:1]]


def test_probability_is_the_softmax_over_query_and_labels(angles):
    angles.update({"a dog": 60.0})
    result = diagnose("img.jpg", "a dog")
    rivals = len([v for v in vocabulary() if v != "dog"])
    others = rivals * np.exp(100 * (_cos(85) - 0.5))
    assert result.probability == pytest.approx(1 / (1 + others), abs=1e-3)
    assert result.margin > 0 and result.competitor_rank == 1 and not result.warnings


def test_low_score_warns_and_suggests_a_broader_label(angles):
    angles.update({"a zebra": 80.0})
    result = diagnose("img.jpg", "a zebra")
    assert result.low_score
    assert any("Low similarity" in w for w in result.warnings)
    assert any("broader" in s for s in result.suggestions)


def test_advisor_alternatives_join_the_suggestions(angles):
    angles.update({"two dogs": 60.0})
    result = diagnose("img.jpg", "two dogs")
    assert result.check.kinds == ("counting",)
    assert any("polymodal count IMAGE 'dog'" in s for s in result.suggestions)


def test_unreadable_image_is_bad_input(monkeypatch):
    monkeypatch.setattr(
        vision,
        "embed_images",
        lambda paths, model=None: _Embedded(np.zeros((0, 2)), (_Failure(),)),
    )
    with pytest.raises(BadInputError, match="corrupt"):
        diagnose("broken.jpg", "a dog")


def test_rephrasings_cover_templates_and_number():
    variants = rephrasings("a dog")
    assert "a dog" not in variants
    assert {"a photo of a dog", "a picture of a dog", "a photo of dogs"} <= set(variants)
    assert "a photo of a dog" in rephrasings("dogs")
