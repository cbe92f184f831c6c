"""Screening generated images with the vision room's moderation: flagged ones blurred, kept.

Generation (``diffusion``) and moderation (``vision``) are sibling rooms, so the step that
joins them lives here, above both. A flagged image is never dropped silently: it comes back
Gaussian-blurred beyond recognition, its record marked ``screened="flagged"`` with the
categories that flagged it, and its PNG parameters saying so (``Screened: flagged: ...``).
Its seed and settings stay recorded, so a person who reviews it can re-create the original.

The moderation is CLIP's zero-shot screening aid (see :mod:`polymodal.vision.moderate`): its
scores are uncalibrated, so a flag asks for a human look, not a verdict.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from polymodal.diffusion import GeneratedImage, Generation
from polymodal.vision.embed import ModelRef, get_encoder
from polymodal.vision.moderate import moderate

#: The blur's radius as a fraction of the image's longer side: at 1/16 (32 px on a 512 px
#: image) shapes survive as colour fields and no detail can be read.
BLUR_FRACTION = 1 / 16


def blur(image: Any) -> Any:
    """``image`` Gaussian-blurred by :data:`BLUR_FRACTION` of its longer side."""
    from PIL import ImageFilter

    radius = max(2.0, max(image.size) * BLUR_FRACTION)
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(radius))


def screen_image(
    generated: GeneratedImage,
    *,
    model: ModelRef = None,
    categories_file: str | os.PathLike[str] | None = None,
) -> GeneratedImage:
    """``generated`` screened: marked ``passed``, or ``flagged`` and blurred.

    ``model``: the CLIP model to screen with (a name, a folder or a loaded encoder; default
    from settings, ``POLYMODAL_CLIP_MODEL``); ``categories_file``: a moderation TOML that
    changes the categories or their thresholds (as ``polymodal moderate --categories``).
    """
    with tempfile.TemporaryDirectory(prefix="polymodal-screen-") as folder:
        path = Path(folder) / "generated.png"
        generated.image.convert("RGB").save(path)
        verdict = moderate(path, model=model, categories_file=categories_file, cache=False)
    (item,) = verdict.items
    if not item.flagged:
        return replace(generated, screened="passed", screened_categories=())
    note = (
        f"Screening flagged this image ({', '.join(item.flagged_categories)}): it is saved "
        "blurred. CLIP's screening is a first pass for a person to review, not a verdict."
    )
    return replace(
        generated,
        image=blur(generated.image),
        screened="flagged",
        screened_categories=item.flagged_categories,
        notes=(*generated.notes, note),
    )


def screen_generation(
    generation: Generation,
    *,
    model: ModelRef = None,
    categories_file: str | os.PathLike[str] | None = None,
) -> Generation:
    """Every image of ``generation`` screened (see :func:`screen_image`), the encoder loaded
    once. For the server: call it on a request's result before encoding the images when
    screening is configured."""
    encoder = get_encoder(model)
    images = (
        screen_image(image, model=encoder, categories_file=categories_file)
        for image in generation.images
    )
    return Generation(tuple(images))
