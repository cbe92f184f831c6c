"""Locating objects with a detector (DETR), where CLIP cannot help: boxes, labels, scores.

A vision model, so it lives in the vision room; turning a user's noun ("automobiles") into one
of its labels is the advisor's text work, and counting composes the two above both rooms
(:mod:`polymodal.tasks.count`). ``draw_boxes`` saves the image with the boxes drawn so a person
can check a count at a glance.

The detector comes through the catalogue (``detr-resnet-50`` or any local DETR checkpoint);
:func:`get_detector` takes a loaded :class:`Detector` as well as a name.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.catalog import ResolvedModel
from polymodal.config import pick_device
from polymodal.errors import BadInputError, DependencyMissingError, ModelUnavailableError, require

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One detected object: label, score in [0, 1], box ``(x0, y0, x1, y1)`` in pixels."""

    label: str
    score: float
    box: Box


class Detector:
    """A loaded DETR model with its image processor; ``detect`` returns every object found."""

    def __init__(self, model: Any, processor: Any, device: str, name: str) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.name = name

    @property
    def labels(self) -> list[str]:
        """The label names this detector predicts (without COCO's 'N/A' placeholders)."""
        names = self.model.config.id2label.values()
        return sorted({n for n in names if n and n != "N/A"})

    def detect(self, image: Any, threshold: float = 0.9) -> list[Detection]:
        """Every detection scoring over ``threshold`` in a PIL image, best first."""
        import torch

        inputs = self.processor(images=image, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            outputs = self.model(**inputs)
        size = [(image.height, image.width)]
        found = self.processor.post_process_object_detection(
            outputs, threshold=threshold, target_sizes=size
        )[0]
        names = self.model.config.id2label
        detections = [
            Detection(
                label=names.get(int(label), str(int(label))),
                score=float(score),
                box=tuple(round(float(v), 2) for v in box.tolist()),  # type: ignore[arg-type]
            )
            for score, label, box in zip(
                found["scores"], found["labels"], found["boxes"], strict=True
            )
        ]
        return sorted(detections, key=lambda d: -d.score)


def _needs_timm(path: Path) -> bool:
    config_file = path / "config.json"
    if not config_file.exists():
        raise ModelUnavailableError(f"'{path}' has no config.json, so it is not a DETR checkpoint.")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    backbone = config.get("backbone_config") or {}
    uses_timm = backbone.get("model_type") == "timm_backbone" or (
        not backbone and config.get("use_timm_backbone", True)
    )
    return bool(uses_timm) and importlib.util.find_spec("timm") is None


def load_detector(resolved: ResolvedModel, *, device: str = "auto") -> Detector:
    """Catalogue loader for the ``detector`` family: a DETR checkpoint directory, in eval mode."""
    require("torch", "vision")
    transformers = require("transformers", "vision")
    path = resolved.path
    if _needs_timm(path):
        raise DependencyMissingError(
            f"Detector '{resolved.spec.name}' ({path}) uses a timm ResNet backbone, which needs "
            "the 'timm' package, and timm is not installed (it pulls in torchvision). Use a DETR "
            "checkpoint saved with a transformers ResNet backbone (use_timm_backbone=false)."
        )
    chosen = pick_device(device)
    # The PIL processor: the default one wants torchvision, which we never install.
    processor_class = getattr(transformers, "DetrImageProcessorPil", None)
    processor_class = processor_class or transformers.DetrImageProcessor
    try:
        model = transformers.DetrForObjectDetection.from_pretrained(str(path))
        try:
            processor = processor_class.from_pretrained(str(path))
        except OSError:  # a checkpoint without preprocessor_config.json: DETR's defaults
            processor = processor_class()
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"Could not load detector '{resolved.spec.name}' from {path}: {exc}"
        ) from exc
    model.to(chosen).eval()
    return Detector(model, processor, chosen, resolved.spec.name)


def open_image(image: Any) -> tuple[Any, str]:
    """A PIL image (RGB) and the name to report it by, from a path or a PIL image."""
    if hasattr(image, "convert") and hasattr(image, "size"):
        return image.convert("RGB"), "<image>"
    from polymodal.media.image import load_image

    return load_image(image), str(image)


DetectorRef = Detector | str | os.PathLike[str] | Any | None


def get_detector(model: DetectorRef = None) -> Detector:
    """The detector for ``model`` through the catalogue; a loaded detector (or any object with
    ``labels`` and ``detect``) is returned as it is."""
    if model is not None and not isinstance(model, str | os.PathLike):
        return model
    from polymodal import catalog

    return catalog.load(model, "detector")


def draw_boxes(image: Any, detections: list[Detection], path: str | os.PathLike[str]) -> Path:
    """Save ``image`` with each detection's box and label drawn; returns the path written."""
    from PIL import ImageDraw

    canvas = image.convert("RGB").copy()
    pen = ImageDraw.Draw(canvas)
    width = max(2, round(min(canvas.size) / 200))
    for detection in detections:
        x0, y0, x1, y1 = detection.box
        pen.rectangle((x0, y0, x1, y1), outline=(255, 0, 0), width=width)
        caption = f"{detection.label} {detection.score:.2f}"
        pen.text((x0 + width + 1, y0 + width + 1), caption, fill=(255, 255, 0))
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise BadInputError(
            f"Cannot save the drawing to '{target}': its folder does not exist.", param="draw"
        )
    canvas.save(target)
    return target
