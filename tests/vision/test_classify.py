"""Zero-shot classification from controlled embeddings: ranking, softmax, templates, thresholds.

This is the vision room's plain CLIP classifier; the advisor's warnings and the detector's
counts are composed above it and tested in ``tests/tasks/test_tasks_classify.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _vision_helpers import FakeClip, touch_images, unit

from polymodal.errors import BadInputError
from polymodal.vision.classify import classify
from polymodal.vision.prompts import resolve_templates

LABEL_AXES = {"cat": 0, "dog": 1, "car": 2}


def label_rule(text: str) -> np.ndarray:
    """A prompt's vector points along its label's axis, plus a template-specific wobble."""
    label = next(name for name in LABEL_AXES if name in text)
    vector = np.zeros(6, dtype=np.float32)
    vector[LABEL_AXES[label]] = 1.0
    wobble = sum(text.encode()) % 7
    vector[3 + wobble % 3] = 0.1 * wobble
    return vector / np.linalg.norm(vector)


@pytest.fixture
def images(tmp_path):
    return touch_images(tmp_path / "imgs", ["tabby", "puppy", "mixed"])


@pytest.fixture
def fake(monkeypatch):
    vectors = {
        "tabby": unit(0.9, 0.3, 0.1, 0, 0, 0),
        "puppy": unit(0.2, 0.95, 0.1, 0, 0, 0),
        "mixed": unit(0.5, 0.5, 0.05, 0, 0, 0),
    }
    return FakeClip(images=vectors, text_rule=label_rule).install(monkeypatch)


def expected(fake, image, labels, templates=("a photo of a {}.",), scale=100.0):
    """Similarities and softmax probabilities computed independently from the fake vectors."""
    rows = []
    for label in labels:
        mean = np.mean([label_rule(t.format(label)) for t in templates], axis=0)
        rows.append(mean / np.linalg.norm(mean))
    sims = np.asarray(rows) @ fake.images[image]
    weights = np.exp(scale * sims - np.max(scale * sims))
    return sims, weights / weights.sum()


def test_ranks_labels_and_softmaxes_with_logit_scale(fake, images):
    result = classify([images["tabby"], images["puppy"]], ["cat", "dog", "car"])
    tabby, puppy = result.items
    assert [s.label for s in tabby.scores] == ["cat", "dog", "car"]
    assert puppy.top.label == "dog"
    assert tabby.predicted == ("cat",) and puppy.predicted == ("dog",)
    sims, probs = expected(fake, "tabby", ["cat", "dog", "car"])
    got = {s.label: s for s in tabby.scores}
    for index, label in enumerate(["cat", "dog", "car"]):
        assert got[label].similarity == pytest.approx(sims[index], abs=1e-5)
        assert got[label].probability == pytest.approx(probs[index], rel=1e-4, abs=1e-7)
    assert sum(s.probability for s in tabby.scores) == pytest.approx(1.0)
    assert result.logit_scale == 100.0 and result.model_id == "fake-clip"


def test_logit_scale_sharpens_probabilities(monkeypatch, fake, images):
    sharp = classify([images["mixed"]], ["cat", "dog"]).items[0].top
    fake.logit_scale = 1.0
    flat = classify([images["mixed"]], ["cat", "dog"]).items[0].top
    assert sharp.label == flat.label
    assert 0.5 < flat.probability < 0.55 < sharp.probability
    assert flat.similarity == pytest.approx(sharp.similarity)


def test_default_template_wraps_each_label(fake, images):
    classify([images["tabby"]], ["cat", "dog"])
    assert fake.text_calls[-1] == ["a photo of a cat.", "a photo of a dog."]


@pytest.mark.parametrize("name, count", [("ensemble", 80), ("ensemble7", 7)])
def test_ensemble_averages_template_embeddings_then_renormalises(fake, images, name, count):
    result = classify([images["mixed"]], ["cat", "dog"], templates=name)
    templates = resolve_templates(name)
    assert len(templates) == count and len(fake.text_calls[-1]) == 2 * count
    assert result.templates == templates
    sims, probs = expected(fake, "mixed", ["cat", "dog"], templates)
    got = {s.label: s for s in result.items[0].scores}
    assert got["cat"].similarity == pytest.approx(sims[0], abs=1e-5)
    assert got["dog"].probability == pytest.approx(probs[1], abs=1e-5)


def test_custom_templates_and_bad_templates(fake, images):
    result = classify([images["tabby"]], ["cat", "dog"], templates=["{}", "art of {}"])
    assert fake.text_calls[-1] == ["cat", "art of cat", "dog", "art of dog"]
    assert result.items[0].top.label == "cat"
    for bad in (["a photo of a cat"], ["{} and {}"], [], "not-a-set"):
        with pytest.raises(BadInputError):
            classify([images["tabby"]], ["cat", "dog"], templates=bad)


def test_multi_label_thresholds_on_cosine(fake, images):
    sims, _ = expected(fake, "mixed", ["cat", "dog", "car"])
    assert sims[0] > 0.25 and sims[1] > 0.25 and sims[2] < 0.25
    result = classify([images["mixed"]], ["cat", "dog", "car"], multi_label=True)
    assert set(result.items[0].predicted) == {"cat", "dog"}
    assert result.multi_label
    between = (min(sims[0], sims[1]) + max(sims[0], sims[1])) / 2
    strict = classify(
        [images["mixed"]], ["cat", "dog", "car"], multi_label=True, thresholds=between
    )
    assert len(strict.items[0].predicted) == 1
    per_label = classify(
        [images["mixed"]], ["cat", "dog", "car"], multi_label=True, thresholds={"car": 0.0}
    )
    assert set(per_label.items[0].predicted) == {"cat", "dog", "car"}


def test_multi_label_allows_a_single_label_single_label_does_not(fake, images):
    result = classify([images["puppy"]], ["dog"], multi_label=True)
    assert result.items[0].predicted == ("dog",)
    with pytest.raises(BadInputError, match="at least two labels"):
        classify([images["puppy"]], ["dog"])


def test_single_label_threshold_is_a_minimum_probability(fake, images):
    fake.logit_scale = 1.0  # flat probabilities: the top label has barely more than half
    unsure = classify([images["mixed"]], ["cat", "dog"], thresholds=0.9).items[0]
    assert unsure.predicted == () and len(unsure.scores) == 2
    assert not any(s.selected for s in unsure.scores)
    sure = classify([images["mixed"]], ["cat", "dog"], thresholds=0.5).items[0]
    assert sure.predicted == (sure.top.label,)


@pytest.mark.parametrize(
    "options",
    [
        {"thresholds": 1.5},
        {"thresholds": {"horse": 0.2}},
        {"multi_label": True, "thresholds": -2.0},
        {"top_k": 0},
    ],
)
def test_bad_options_are_rejected(fake, images, options):
    with pytest.raises(BadInputError):
        classify([images["tabby"]], ["cat", "dog"], **options)


def test_top_k_keeps_the_best(fake, images):
    result = classify([images["tabby"]], ["car", "dog", "cat"], top_k=2)
    assert [s.label for s in result.items[0].scores] == ["cat", "dog"]


def test_labels_are_cleaned(fake, images):
    result = classify([images["tabby"]], [" cat", "dog", "cat", ""])
    assert result.labels == ("cat", "dog")
    with pytest.raises(BadInputError):
        classify([images["tabby"]], ["", "  "])
    with pytest.raises(BadInputError):
        classify([images["tabby"]], "cat,dog")


def test_bad_file_in_batch_is_reported_and_the_rest_completes(fake, images, tmp_path):
    broken = tmp_path / "imgs" / "broken.jpg"
    broken.write_bytes(b"not a picture")
    result = classify([images["tabby"], broken, images["puppy"]], ["cat", "dog"])
    assert [item.path for item in result] == [str(images["tabby"]), str(images["puppy"])]
    assert [f.path for f in result.failures] == [str(broken)]


def test_folder_input_is_expanded(fake, images):
    result = classify(images["tabby"].parent, ["cat", "dog"])
    assert len(result) == 3


def test_the_plain_classifier_carries_no_advice(fake, images):
    result = classify([images["puppy"]], ["cat", "three dogs"])
    assert not hasattr(result, "advice") and not hasattr(result, "routed")
    assert [s.label for s in result.items[0].scores] == ["three dogs", "cat"]


def test_errors_name_the_parameter(fake, images):
    cases = [
        ({"labels": ["cat"]}, "labels"),
        ({"labels": ["cat", "dog"], "thresholds": 2.0}, "thresholds"),
        ({"labels": ["cat", "dog"], "top_k": 0}, "top_k"),
        ({"labels": ["cat", "dog"], "templates": ["no slot"]}, "templates"),
    ]
    for options, param in cases:
        with pytest.raises(BadInputError) as error:
            classify([images["tabby"]], **options)
        assert error.value.param == param
        assert "--" not in str(error.value)
