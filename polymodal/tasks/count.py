"""``count_objects``: how many of a noun's objects an image holds, where CLIP cannot count.

The advisor turns the user's noun ('people', 'automobiles', 'puppies') into one of the
detector's labels; the vision room's detector finds the boxes; this step keeps the detections
of that label over the threshold and can draw them for a person to check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from polymodal.advisor.labelmap import map_label
from polymodal.errors import BadInputError
from polymodal.vision.detect import Box, DetectorRef, draw_boxes, get_detector, open_image


@dataclass(frozen=True)
class CountResult:
    """How many ``label`` objects the detector found over ``threshold`` in ``image``."""

    image: str
    noun: str
    label: str
    count: int
    boxes: tuple[Box, ...]
    labels: tuple[str, ...]
    scores: tuple[float, ...]
    threshold: float
    drawn: str | None = None


def count_objects(
    image: Any,
    noun: str,
    *,
    model: DetectorRef = None,
    threshold: float = 0.9,
    draw: str | os.PathLike[str] | None = None,
) -> CountResult:
    """Count the objects ``noun`` names in ``image`` (a path or PIL image) with the detector.

    ``model``: a detector name, a local DETR folder or a loaded detector. ``noun`` may be plural
    or a synonym ('people', 'automobiles', 'puppies'); an unknown noun raises
    :class:`BadInputError` listing close labels. ``draw`` saves the boxes drawn on the image.
    """
    if not 0.0 <= threshold < 1.0:
        raise BadInputError(
            f"The threshold must be between 0 and 1, got {threshold}.", param="threshold"
        )
    detector = get_detector(model)
    label = map_label(noun, detector.labels)
    picture, name = open_image(image)
    kept = [d for d in detector.detect(picture, threshold) if d.label == label]
    drawn = str(draw_boxes(picture, kept, draw)) if draw is not None else None
    return CountResult(
        image=name,
        noun=noun,
        label=label,
        count=len(kept),
        boxes=tuple(d.box for d in kept),
        labels=tuple(d.label for d in kept),
        scores=tuple(round(d.score, 4) for d in kept),
        threshold=threshold,
        drawn=drawn,
    )
