"""Zero-shot classification from controlled embeddings: ranking, softmax, templates, thresholds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _vision_helpers import FakeClip, touch_images, unit

from polymodal.errors import BadInputError
from polymodal.vision import advice
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
    monkeypatch.setattr(advice, "_checker", lambda: None)
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


def _fake_advisor(verdicts: dict[str, list[str]]):
    def check(labels):
        return [
            SimpleNamespace(
                verdicts=[
                    SimpleNamespace(kind=k, reason=f"{k} reason", alternative=f"use {k} tool")
                    for k in verdicts.get(label, ["ok"])
                ]
            )
            for label in labels
        ]

    return lambda: check


def test_advisor_warnings_are_attached_and_counting_is_routed(fake, images, monkeypatch):
    checker = _fake_advisor({"three dogs": ["counting"], "a cat left of a dog": ["spatial"]})
    monkeypatch.setattr(advice, "_checker", checker)
    monkeypatch.setattr(advice, "_counting_target", lambda label: "dog")
    labels = ["cat", "three dogs", "a cat left of a dog"]
    result = classify([images["puppy"]], labels)
    assert {(a.label, a.kind) for a in result.advice} == {
        ("three dogs", "counting"),
        ("a cat left of a dog", "spatial"),
    }
    assert [r.label for r in result.routed] == ["three dogs"]
    assert result.routed[0].task == "count" and "polymodal count" in result.routed[0].command
    assert result.routed[0].target == "dog"
    assert result.routed[0].command == 'polymodal count IMAGE "dog"'
    assert len(result.items[0].scores) == 3  # routed labels still get CLIP's scores


def test_without_an_advisor_results_carry_no_advice(fake, images):
    result = classify([images["puppy"]], ["cat", "three dogs"])
    assert result.advice == () and result.routed == ()


def test_the_real_advisor_routes_counting_labels():
    import polymodal.advisor

    if not hasattr(polymodal.advisor, "check_query"):
        pytest.skip("the advisor does not export check_query yet")
    found, routed = advice.advise(["a photo of a beach", "three dogs"])
    assert [(r.label, r.target) for r in routed] == [("three dogs", "dog")]
    assert all(a.label == "three dogs" for a in found)


def test_counting_labels_are_answered_by_the_detector(fake, images, monkeypatch):
    import polymodal.advisor

    monkeypatch.setattr(advice, "_checker", _fake_advisor({"three dogs": ["counting"]}))
    monkeypatch.setattr(advice, "_counting_target", lambda label: "dog")
    asked = []

    def count_objects(image, noun, *, model=None):
        asked.append((image, noun, model))
        return SimpleNamespace(count=3)

    monkeypatch.setattr(polymodal.advisor, "count_objects", count_objects)
    result = classify([images["puppy"]], ["cat", "three dogs"], detector="my-detr")
    assert [(c.label, c.target, c.count) for c in result.counts] == [("three dogs", "dog", 3)]
    assert asked == [(result.items[0].path, "dog", "my-detr")]
    assert result.route_notes == ()
    assert classify([images["puppy"]], ["cat", "three dogs"], route=False).counts == ()


def test_a_missing_detector_leaves_a_note_not_an_error(fake, images, monkeypatch):
    import polymodal.advisor
    from polymodal.errors import ModelUnavailableError

    monkeypatch.setattr(advice, "_checker", _fake_advisor({"three dogs": ["counting"]}))
    monkeypatch.setattr(advice, "_counting_target", lambda label: "dog")

    def count_objects(image, noun, *, model=None):
        raise ModelUnavailableError("Model 'detr-resnet-50' is not available offline.")

    monkeypatch.setattr(polymodal.advisor, "count_objects", count_objects)
    result = classify([images["puppy"]], ["cat", "three dogs"])
    assert result.counts == ()
    assert len(result.route_notes) == 1 and "not available offline" in result.route_notes[0]
    assert len(result.items[0].scores) == 2
