"""diagnose() with a stand-in encoder passed in: ranks, margin, warnings and suggestions.

The image sits on the x axis; each text gets an angle, so its cosine is known (else 85°). The
encoder is an object handed to ``model=``, the way a server passes the encoder it holds; the
embedding path (decoding, cache) is the real one.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from polymodal import render
from polymodal.advisor.diagnosis import vocabulary
from polymodal.errors import BadInputError, ModelUnavailableError
from polymodal.tasks.diagnose import Diagnosis, diagnose
from polymodal.vision import embed


class AngleEncoder:
    """Every image embeds to (1, 0); a text to (cos a, sin a) for its angle a in ``table``."""

    model_id = "angles"
    dim = 2
    logit_scale = 100.0

    def __init__(self) -> None:
        self.table: dict[str, float] = {}

    def encode_images(self, images):
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(images), 1))

    def encode_texts(self, texts):
        rad = np.radians([self.table.get(t, 85.0) for t in texts])
        return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def _cos(angle: float) -> float:
    return float(np.cos(np.radians(angle)))


@pytest.fixture
def encoder(polymodal_home) -> AngleEncoder:
    return AngleEncoder()


@pytest.fixture
def img(tmp_path):
    path = tmp_path / "img.png"
    Image.new("RGB", (16, 16), (10, 200, 10)).save(path)
    return path


def test_a_winning_competitor_and_a_better_phrasing_are_reported(encoder, img):
    encoder.table.update({"a dog": 75.0, "a photo of a dog": 70.0, "a photo of a cat": 60.0})
    result = diagnose(img, "a dog", competitors=["wolf"], model=encoder)
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
    assert render.from_data(Diagnosis, render.to_data(result)) == result


def test_probability_is_the_softmax_over_query_and_labels(encoder, img):
    encoder.table.update({"a dog": 60.0})
    result = diagnose(img, "a dog", model=encoder)
    rivals = len([v for v in vocabulary() if v != "dog"])
    others = rivals * np.exp(100 * (_cos(85) - 0.5))
    assert result.probability == pytest.approx(1 / (1 + others), abs=1e-3)
    assert result.margin > 0 and result.competitor_rank == 1 and not result.warnings


def test_the_encoders_logit_scale_is_used(encoder, img):
    encoder.table.update({"a dog": 60.0})
    encoder.logit_scale = 1.0
    result = diagnose(img, "a dog", model=encoder)
    scores = [0.5] + [_cos(85)] * len([v for v in vocabulary() if v != "dog"])
    weights = np.exp(np.asarray(scores) - max(scores))
    assert result.probability == pytest.approx(weights[0] / weights.sum(), abs=1e-4)


def test_low_score_warns_and_suggests_a_broader_label(encoder, img):
    encoder.table.update({"a zebra": 80.0})
    result = diagnose(img, "a zebra", model=encoder)
    assert result.low_score
    assert any("Low similarity" in w for w in result.warnings)
    assert any("broader" in s for s in result.suggestions)


def test_advisor_alternatives_join_the_suggestions(encoder, img):
    encoder.table.update({"two dogs": 60.0})
    result = diagnose(img, "two dogs", model=encoder)
    assert result.check.kinds == ("counting",)
    assert any("polymodal count IMAGE 'dog'" in s for s in result.suggestions)


def test_unreadable_image_and_empty_query_are_bad_input(encoder, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(BadInputError, match=r"corrupt|not an image") as bad:
        diagnose(broken, "a dog", model=encoder)
    assert bad.value.param == "image"
    with pytest.raises(BadInputError) as empty:
        diagnose(broken, "  ", model=encoder)
    assert empty.value.param == "query"


def test_a_missing_model_is_the_catalogues_error(img, monkeypatch, polymodal_home):
    """Bug: a catch-all turned any failure to read the logit scale into 100, hiding a missing
    model behind plausible numbers. Only the embeddings are stood in for here; the model's
    logit scale must come from the model, so a model that is not there is an error."""
    stand_in = AngleEncoder()
    monkeypatch.setattr(
        embed,
        "embed_images",
        lambda paths, model=None: embed.ImageEmbeddings(
            (str(img),), np.array([[1.0, 0.0]], np.float32), (), "angles", 1, 0
        ),
    )
    monkeypatch.setattr(
        embed, "embed_texts", lambda texts, model=None: stand_in.encode_texts(texts)
    )
    with pytest.raises(ModelUnavailableError):
        diagnose(img, "a dog", model="no-such-clip-model")
