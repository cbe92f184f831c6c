"""Counting through the detector: a tiny DETR from a config, with controlled model outputs.

The detector is the vision room's (``polymodal.vision.detect``); reading the noun is the
advisor's; ``count_objects`` composes them (``polymodal.tasks.count``).
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from polymodal import catalog, render  # noqa: E402
from polymodal.errors import BadInputError, DependencyMissingError  # noqa: E402
from polymodal.tasks.count import CountResult, count_objects  # noqa: E402
from polymodal.vision.detect import Detection, Detector  # noqa: E402

TINY_LABELS = {0: "N/A", 1: "person", 2: "car", 3: "dog", 4: "cat", 5: "traffic light"}

# One row per query slot: (label id, logit), box (cx, cy, w, h) relative. Softmax over 7 classes
# (6 labels + no-object) makes logit 12 ~0.9999 and 3.0 e^3/(e^3+6) ~0.77 against zeros.
SLOTS = [
    (1, 12.0, (0.25, 0.25, 0.2, 0.2)),  # person, sure
    (1, 3.0, (0.75, 0.5, 0.2, 0.4)),  # person, unsure (0.77)
    (2, 12.0, (0.5, 0.75, 0.4, 0.2)),  # car, sure
    (6, 12.0, (0.5, 0.5, 0.1, 0.1)),  # no object
]


@pytest.fixture
def detector(tiny_detr_dir, monkeypatch) -> Detector:
    from transformers.models.detr.modeling_detr import DetrObjectDetectionOutput

    loaded = catalog.load(tiny_detr_dir, "detector")
    logits = torch.zeros(1, len(SLOTS), len(TINY_LABELS) + 1)
    boxes = torch.zeros(1, len(SLOTS), 4)
    for i, (label, logit, box) in enumerate(SLOTS):
        logits[0, i, label] = logit
        boxes[0, i] = torch.tensor(box)

    def fake_forward(*args, **kwargs):
        return DetrObjectDetectionOutput(logits=logits, pred_boxes=boxes)

    monkeypatch.setattr(loaded.model, "forward", fake_forward)
    return loaded


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "street.png"
    Image.new("RGB", (100, 80), (255, 255, 255)).save(path)
    return path


def test_catalog_loads_a_local_checkpoint(tiny_detr_dir):
    loaded = catalog.load(tiny_detr_dir, "detector")
    assert isinstance(loaded, Detector)
    assert loaded.labels == ["car", "cat", "dog", "person", "traffic light"]
    assert catalog.load(tiny_detr_dir, "detector") is loaded


def test_counts_only_the_asked_label_over_the_threshold(detector, picture):
    result = count_objects(picture, "people", model=detector, threshold=0.9)
    assert (result.label, result.count) == ("person", 1)
    assert result.boxes == ((15.0, 12.0, 35.0, 28.0),)
    assert result.scores[0] > 0.99 and result.labels == ("person",)
    looser = count_objects(picture, "person", model=detector, threshold=0.5)
    assert looser.count == 2 and min(looser.scores) == pytest.approx(0.77, abs=0.01)
    assert count_objects(picture, "automobiles", model=detector).count == 1
    assert count_objects(picture, "puppies", model=detector).count == 0


def test_accepts_a_pil_image(detector):
    result = count_objects(Image.new("RGB", (100, 80)), "cars", model=detector)
    assert result.count == 1 and result.boxes == ((30.0, 52.0, 70.0, 68.0),)


def test_draw_saves_boxes(detector, picture, tmp_path):
    out = tmp_path / "boxes.png"
    result = count_objects(picture, "person", model=detector, threshold=0.5, draw=out)
    assert result.drawn == str(out)
    drawn = Image.open(out).convert("RGB")
    assert drawn.size == (100, 80)
    assert drawn.getpixel((15, 20)) == (255, 0, 0)  # left edge of the sure person's box
    assert drawn.getpixel((65, 45)) == (255, 0, 0)  # left edge of the unsure one
    assert drawn.getpixel((75, 50)) == (255, 255, 255)  # inside stays untouched
    assert drawn.getpixel((50, 68)) == (255, 255, 255)  # the car is not drawn


def test_bad_threshold_and_missing_image(detector, tmp_path):
    with pytest.raises(BadInputError, match="threshold") as bad:
        count_objects(tmp_path / "x.png", "cars", model=detector, threshold=1.5)
    assert bad.value.param == "threshold"
    with pytest.raises(BadInputError, match="does not exist"):
        count_objects(tmp_path / "missing.png", "cars", model=detector)


def test_timm_checkpoint_without_timm_says_so(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "detr", "use_timm_backbone": True, "backbone": "resnet50"})
    )
    with pytest.raises(DependencyMissingError, match="timm"):
        catalog.load(tmp_path, "detector")


def test_an_unknown_noun_names_the_parameter(detector, picture):
    with pytest.raises(BadInputError, match="no label for 'giraffes'") as unknown:
        count_objects(picture, "giraffes", model=detector)
    assert unknown.value.param == "noun"


def test_results_round_trip_through_render(detector, picture):
    result = count_objects(picture, "person", model=detector, threshold=0.5)
    assert result.count == 2
    assert render.from_data(CountResult, render.to_data(result)) == result
    found = detector.detect(Image.open(picture).convert("RGB"), 0.5)[0]
    assert render.from_data(Detection, render.to_data(found)) == found
