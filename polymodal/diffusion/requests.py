"""Requests made whole: :func:`generate` from keywords, :func:`options_from_image` from a PNG.

Both end in one :class:`~polymodal.diffusion.options.GenerateOptions`, which
:func:`~polymodal.diffusion.generate.iter_generate` validates and runs; kept apart from the
denoising loop so that the loop's file reads as the journey of one request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polymodal.diffusion import controls, lora
from polymodal.diffusion.generate import iter_generate
from polymodal.diffusion.options import (
    DEFAULT_GUIDANCE,
    DEFAULT_NEGATIVE,
    DEFAULT_SPEED,
    DEFAULT_STEPS,
    GenerateOptions,
)
from polymodal.diffusion.results import Generation, LoraWeight
from polymodal.diffusion.schedulers import DEFAULT_SCHEDULER
from polymodal.errors import BadInputError
from polymodal.progress import CancelToken, ProgressCallback


def generate(
    prompt: str,
    *,
    negative: str | None = None,
    seed: int | None = None,
    steps: int = DEFAULT_STEPS,
    guidance: float = DEFAULT_GUIDANCE,
    width: int | None = None,
    height: int | None = None,
    scheduler: str = DEFAULT_SCHEDULER,
    n: int = 1,
    model: str | os.PathLike[str] | None = None,
    init: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    strength: float = 0.6,
    config: str | os.PathLike[str] | None = None,
    loras: Sequence[str | LoraWeight] = (),
    control: str | None = None,
    control_image: str | os.PathLike[str] | None = None,
    control_scale: float = 1.0,
    control_model: str | os.PathLike[str] | None = None,
    control_preprocess: bool | None = None,
    control_annotator: str | os.PathLike[str] | None = None,
    speed: str = DEFAULT_SPEED,
    vae_tiling: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Generation:
    """Generate ``n`` images of ``prompt`` with Stable Diffusion; each records its parameters.

    ``negative`` ``None`` uses :data:`DEFAULT_NEGATIVE` (``""`` turns it off). ``init`` makes
    it img2img, ``init`` with ``mask`` inpainting (white = repaint; black pixels come back
    exactly as they were). ``model``: a catalogue name, a diffusers folder or a checkpoint
    file (default: the catalogue's default). ``loras``: ``"PATH[:SCALE]"`` strings or
    :class:`LoraWeight` records. ``control`` (``canny``, ``depth``, ``pose``) with
    ``control_image``: a ControlNet guides the layout (canny edges are made from the picture;
    depth is estimated from a colour photo, a grey picture being the map already; pose takes
    a ready skeleton; ``control_preprocess`` overrides, ``control_annotator`` names the depth
    model). ``speed``: ``"default"`` (exact quality) or ``"fast"``
    (DeepCache and the tiny VAE: see :data:`~polymodal.diffusion.options.SPEEDS`);
    ``vae_tiling`` ``None`` decodes in tiles only when the whole image would not fit in
    memory. Save with :func:`save_images`.
    """
    options = GenerateOptions(
        prompt=prompt,
        negative=DEFAULT_NEGATIVE if negative is None else negative,
        seed=seed,
        steps=steps,
        guidance=guidance,
        width=width,
        height=height,
        scheduler=scheduler,
        n=n,
        model=str(model) if model is not None else None,
        init=Path(init) if init is not None else None,
        mask=Path(mask) if mask is not None else None,
        strength=strength,
        config=Path(config) if config is not None else None,
        loras=tuple(lora.parse_lora(x) if isinstance(x, str) else x for x in loras),
        control=control_request(
            control,
            control_image,
            control_scale,
            control_model,
            preprocess=control_preprocess,
            annotator=control_annotator,
        ),
        speed=speed,
        vae_tiling=vae_tiling,
    )
    images = iter_generate(options, progress=progress, cancel=cancel)
    return Generation(tuple(images))


def control_request(
    kind: str | None,
    image: Any,
    scale: float = 1.0,
    model: Any = None,
    *,
    preprocess: bool | None = None,
    annotator: Any = None,
) -> controls.Control | None:
    """The :class:`~polymodal.diffusion.controls.Control` for a kind and picture (neither:
    ``None``); one sentence when only one of the two is given. ``preprocess`` and
    ``annotator``: see :class:`~polymodal.diffusion.controls.Control`."""
    if kind is None and image is None:
        return None
    if kind is None or image is None:
        raise BadInputError("A control needs both its kind and its image.", param="control")
    return controls.Control(
        kind,
        Path(image),
        float(scale),
        str(model) if model else None,
        preprocess=preprocess,
        annotator=str(annotator) if annotator else None,
    )


def options_from_image(
    path: str | os.PathLike[str], *, seed: int | None = None, model: str | None = None, n: int = 1
) -> GenerateOptions:
    """The request that made the image at ``path`` (ours, A1111's or ComfyUI's parameters),
    with ``seed``, ``model`` or ``n`` replaced when given: the same seed re-creates the image
    (same model and machine), another seed gives a variation. The speed preset is the one
    that made it (``fast`` images stay ``fast``) unless the caller replaces it."""
    from polymodal.diffusion.metadata import read_parameters

    info = read_parameters(path)
    p = info.parameters
    if p is None:
        raise BadInputError(f"{path}: its {info.source} graph has no sampler settings to reuse.")
    if p.mode != "txt2img" and not p.init:
        raise BadInputError(
            f"{path} was made from an init image the file does not name; generate it again "
            "with that image as the init.",
            param="init",
        )
    return GenerateOptions(
        prompt=p.prompt,
        negative=p.negative,
        seed=p.seed if seed is None else seed,
        steps=p.steps,
        guidance=p.guidance,
        width=p.width,
        height=p.height,
        scheduler=p.scheduler,
        n=n,
        model=model or p.model or None,
        init=Path(p.init) if p.init else None,
        mask=Path(p.mask) if p.mask else None,
        strength=p.strength if p.strength is not None else 0.6,
        loras=p.loras,
        control=control_request(
            p.control,
            p.control_image,
            p.control_scale or 1.0,
            p.control_model,
            preprocess=p.control_preprocess,
            annotator=p.control_annotator,
        ),
        speed=p.speed,
    )
