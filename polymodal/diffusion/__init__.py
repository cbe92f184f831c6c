"""Stable Diffusion: text-to-image, img2img and inpainting on ``diffusers``, reproducible.

* :mod:`~polymodal.diffusion.options` - :class:`GenerateOptions`, checked once at the edge;
* :mod:`~polymodal.diffusion.schedulers` - samplers by their A1111/ComfyUI names;
* :mod:`~polymodal.diffusion.pipelines` - the catalogue's loader and :class:`DiffusionModel`;
* :mod:`~polymodal.diffusion.controls` - ControlNet maps (canny by OpenCV) and models;
* :mod:`~polymodal.diffusion.annotators` - depth maps estimated from photos (DPT);
* :mod:`~polymodal.diffusion.lora` - LoRA files applied per request at their scales;
* :mod:`~polymodal.diffusion.hashes` - A1111's model and LoRA hashes, each file hashed once;
* :mod:`~polymodal.diffusion.prompts` - long prompts in chunks and A1111 weights (compel);
* :mod:`~polymodal.diffusion.memory` - whether a size fits in free memory;
* :mod:`~polymodal.diffusion.generate` - the task: options in, images with parameters out;
* :mod:`~polymodal.diffusion.requests` - :func:`generate` from keywords, and the request that
  made a PNG (``--from``);
* :mod:`~polymodal.diffusion.metadata` - PNG parameters written as A1111 does, read back from
  A1111, ComfyUI and ours.
"""

from __future__ import annotations

from polymodal.diffusion.controls import Control, canny
from polymodal.diffusion.generate import iter_generate
from polymodal.diffusion.lora import parse_lora
from polymodal.diffusion.metadata import (
    a1111_text,
    output_paths,
    read_parameters,
    save_image,
    save_images,
)
from polymodal.diffusion.options import DEFAULT_NEGATIVE, GenerateOptions, parse_size
from polymodal.diffusion.requests import control_request, generate, options_from_image
from polymodal.diffusion.results import (
    GeneratedImage,
    Generation,
    ImageInfo,
    LoraWeight,
    Parameters,
    Timings,
)
from polymodal.diffusion.schedulers import DEFAULT_SCHEDULER, known_names

__all__ = [
    "DEFAULT_NEGATIVE",
    "DEFAULT_SCHEDULER",
    "Control",
    "GenerateOptions",
    "GeneratedImage",
    "Generation",
    "ImageInfo",
    "LoraWeight",
    "Parameters",
    "Timings",
    "a1111_text",
    "canny",
    "control_request",
    "generate",
    "iter_generate",
    "known_names",
    "options_from_image",
    "output_paths",
    "parse_lora",
    "parse_size",
    "read_parameters",
    "save_image",
    "save_images",
]
