"""Classification with the advisor's word: warnings on labels, counting routed to the detector.

The embeddings are controlled (``FakeClip``); the advisor is the real one; the detector is a
stand-in object passed in, as a server would pass the detector it holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from _vision_helpers import FakeClip, unit
from PIL import Image

from polymodal import render
from polymodal.errors import ModelUnavailableError
from polymodal.tasks import AdvisedClassification, advise, classify
from polymodal.vision.classify import ClassificationResult
from polymodal.vision.detect import Detection


@pytest.fixture
def images(tmp_path):
    """Real (decodable) image files: the detector opens them."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = {}
    for name, colour in (("tabby", (200, 120, 40)), ("puppy", (90, 60, 30))):
        paths[name] = folder / f"{name}.png"
        Image.new("RGB", (40, 30), colour).save(paths[name])
    return paths


@pytest.fixture
def fake(monkeypatch):
    vectors = {"tabby": unit(0.9, 0.3, 0.1), "puppy": unit(0.2, 0.95, 0.1)}

    def rule(text: str) -> np.ndarray:
        return unit(1, 0, 0) if "cat" in text else unit(0, 1, 0)

    return FakeClip(images=vectors, text_rule=rule).install(monkeypatch)


class FakeDetector:
    """A loaded detector as far as counting needs one: its labels and ``detect``."""

    def __init__(self, dogs: int) -> None:
        self.labels = ["cat", "dog", "person"]
        self.dogs = dogs
        self.seen: list[tuple[int, int]] = []

    def detect(self, image, threshold=0.9):
        self.seen.append(image.size)
        return [Detection("dog", 0.99, (0.0, 0.0, 5.0, 5.0)) for _ in range(self.dogs)]


def test_advisor_warnings_are_attached_and_counting_is_routed(fake, images):
    labels = ["cat", "three dogs", "a cat left of a dog"]
    result = classify([images["puppy"]], labels, detector=FakeDetector(3))
    assert isinstance(result, AdvisedClassification) and isinstance(result, ClassificationResult)
    assert {(a.label, a.kind) for a in result.advice} == {
        ("three dogs", "counting"),
        ("a cat left of a dog", "spatial"),
    }
    assert all(a.reason and a.alternative for a in result.advice)
    assert [r.label for r in result.routed] == ["three dogs"]
    assert result.routed[0].task == "count" and "polymodal count" in result.routed[0].command
    assert result.routed[0].target == "dog"
    assert result.routed[0].command == 'polymodal count IMAGE "dog"'
    assert len(result.items[0].scores) == 3  # routed labels still get CLIP's scores


def test_plain_labels_carry_no_advice(fake, images):
    result = classify([images["puppy"]], ["cat", "dog"])
    assert result.advice == () and result.routed == () and result.counts == ()


def test_the_real_advisor_routes_counting_labels():
    found, routed = advise(["a photo of a beach", "three dogs"])
    assert [(r.label, r.target) for r in routed] == [("three dogs", "dog")]
    assert found and all(a.label == "three dogs" for a in found)


def test_counting_labels_are_answered_by_the_detector(fake, images):
    detector = FakeDetector(3)
    result = classify([images["puppy"], images["tabby"]], ["cat", "three dogs"], detector=detector)
    assert [(c.path, c.label, c.target, c.count) for c in result.counts] == [
        (str(images["puppy"]), "three dogs", "dog", 3),
        (str(images["tabby"]), "three dogs", "dog", 3),
    ]
    assert detector.seen == [(40, 30), (40, 30)]
    assert result.route_notes == ()
    unrouted = classify([images["puppy"]], ["cat", "three dogs"], route=False, detector=detector)
    assert unrouted.counts == () and len(detector.seen) == 2


def test_a_missing_detector_leaves_a_note_not_an_error(fake, images):
    with pytest.raises(ModelUnavailableError):  # what the note must carry
        from polymodal.vision.detect import get_detector

        get_detector("no-such-detector")
    result = classify([images["puppy"]], ["cat", "three dogs"], detector="no-such-detector")
    assert result.counts == ()
    assert (
        len(result.route_notes) == 1
        and "Counting needs the object detector" in (result.route_notes[0])
    )
    assert len(result.items[0].scores) == 2


def test_a_noun_the_detector_lacks_is_noted(fake, images):
    result = classify([images["puppy"]], ["cat", "three giraffes"], detector=FakeDetector(1))
    assert result.counts == ()
    assert (
        len(result.route_notes) == 1
        and "'three giraffes' was not counted" in (result.route_notes[0])
    )


def test_the_result_round_trips_through_render(fake, images):
    result = classify([images["puppy"]], ["cat", "three dogs"], detector=FakeDetector(2))
    data = render.to_data(result)
    assert list(data)[-4:] == ["advice", "routed", "counts", "route_notes"]
    assert render.from_data(AdvisedClassification, data) == result
