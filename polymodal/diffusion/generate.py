"""Text-to-image, img2img and inpainting: options in, one :class:`GeneratedImage` per seed out.

Reproducibility: every image gets its own fresh CPU ``torch.Generator`` seeded with its
recorded seed and is denoised alone (batch of one), so the same seed, model and settings give
identical pixels on one machine whatever ``n`` is and wherever the image sat in the batch.

:func:`iter_generate` yields each image as it finishes, so a caller saving them keeps the
finished ones when a later image is cancelled; the cancelled one is never returned. Progress
is one stage, ``generate``, counted in denoising steps over all images.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from polymodal.catalog import load
from polymodal.diffusion import controls, lora, prompts, speed
from polymodal.diffusion.options import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    GenerateOptions,
    check_size,
    validate,
)
from polymodal.diffusion.pipelines import SINGLE_FILE_SUFFIXES, DiffusionModel
from polymodal.diffusion.results import (
    GeneratedImage,
    Parameters,
    Timings,
)
from polymodal.diffusion.schedulers import DEFAULT_SCHEDULER, scheduler_spec
from polymodal.errors import BadInputError, ModelUnavailableError
from polymodal.media.image import load_image
from polymodal.progress import CancelToken, ProgressCallback, Reporter

FAMILY = "diffusion"


def _read_inputs(options: GenerateOptions) -> tuple[Any, Any]:
    """The init image (RGB) and mask (L) or ``None``s; a mask must match the image's size."""
    if options.init is None:
        return None, None
    init = load_image(options.init)
    if options.mask is None:
        return init, None
    mask = load_image(options.mask).convert("L")
    if mask.size != init.size:
        raise BadInputError(
            f"The mask is {mask.size[0]}x{mask.size[1]} but the image is "
            f"{init.size[0]}x{init.size[1]}: they must be the same size.",
            param="mask",
        )
    return init, mask


def _check_model_path(model: str | None) -> None:
    """A model named by a path that is not there gets its own sentence, not "unknown name"."""
    if model is None or Path(model).expanduser().exists():
        return
    if os.sep in model or model.endswith(SINGLE_FILE_SUFFIXES):
        raise ModelUnavailableError(
            f"{model}: no such checkpoint file or model folder.", param="model"
        )


def _size(options: GenerateOptions, model: DiffusionModel, init: Any) -> tuple[int, int]:
    if options.width is not None and options.height is not None:
        return options.width, options.height
    if init is not None:
        check_size(*init.size)
        return init.size
    side = model.native_size
    return side, side


def _fit(image: Any, size: tuple[int, int], mask: bool = False) -> Any:
    from PIL import Image

    if image is None or image.size == size:
        return image
    return image.resize(size, Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS)


def _parameters(options: GenerateOptions, model: DiffusionModel, size: tuple[int, int]):
    return Parameters(
        prompt=options.prompt,
        negative=options.negative,
        seed=0,
        steps=options.steps,
        guidance=float(options.guidance),
        width=size[0],
        height=size[1],
        scheduler=options.scheduler,
        model=_model_reference(options.model, model),
        model_name=model.name,
        model_hash=model.hash,
        mode=options.mode,
        strength=float(options.strength) if options.init is not None else None,
        init=str(Path(options.init).resolve()) if options.init is not None else None,
        mask=str(Path(options.mask).resolve()) if options.mask is not None else None,
        loras=options.loras,
        speed=options.speed,
        **_control_parameters(options.control),
    )


def _control_parameters(control: controls.Control | None) -> dict[str, Any]:
    if control is None:
        return {}
    annotator = controls.annotator_name(control)
    return {
        "control": control.kind,
        "control_image": str(Path(control.image).resolve()),
        "control_scale": float(control.scale),
        "control_model": _model_reference(control.model, None) or control.model_name,
        "control_preprocess": control.preprocess,
        "control_annotator": _model_reference(annotator, None) if annotator else None,
    }


def _model_reference(requested: str | None, model: DiffusionModel | None) -> str:
    """What to record so ``--from`` finds the same model: a path absolute, a name as given."""
    if requested and Path(requested).expanduser().exists():
        return str(Path(requested).expanduser().resolve())
    return requested or (model.name if model is not None else "")


class _StepClock:
    """The ``callback_on_step_end`` hook: progress per step, cancellation between steps,
    and the time of each step for :class:`Timings`."""

    def __init__(self, reporter: Reporter, offset: int, total: int) -> None:
        self.reporter, self.offset, self.total = reporter, offset, total
        self.stamps: list[float] = [time.perf_counter()]

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        self.stamps.append(time.perf_counter())
        self.reporter(self.offset + step + 1, self.total)  # raises CancelledError when set
        return kwargs


def _run_one(pipe: Any, call: dict[str, Any], seed: int, clock: _StepClock) -> Any:
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    with torch.inference_mode():
        output = pipe(**call, generator=generator, callback_on_step_end=clock, output_type="pil")
    return output.images[0]


def _control(
    options: GenerateOptions, size: tuple[int, int]
) -> tuple[GenerateOptions, Any, dict[str, Any]]:
    """The options with the control's preprocessing decided, the loaded ControlNet and its
    call arguments (the map, its weight); the options as they were and nothing without one.

    Text-to-image ControlNet pipelines take the map as ``image``; the img2img and inpainting
    ones (``StableDiffusionControlNetImg2ImgPipeline``, ``...InpaintPipeline``) keep ``image``
    for the init picture and take the map as ``control_image``."""
    if options.control is None:
        return options, None, {}
    picture = load_image(options.control.image)
    control = controls.resolve_preprocess(options.control, picture)
    controlnet = load(control.model_name, "controlnet")
    key = "image" if options.init is None else "control_image"
    call = {
        key: controls.control_map(control, picture, size),
        "controlnet_conditioning_scale": float(control.scale),
    }
    return replace(options, control=control), controlnet, call


def _timesteps(options: GenerateOptions) -> int:
    """Steps actually run: img2img and inpainting skip the first ``1 - strength`` of them."""
    if options.init is None:
        return options.steps
    return max(1, min(options.steps, int(options.steps * options.strength)))


@dataclass(frozen=True)
class _Job:
    """A validated request made concrete: the model, its pipeline, the call arguments shared
    by every image, the parameters to record, and what inpainting pastes back."""

    model: DiffusionModel
    pipe: Any
    call: dict[str, Any]
    parameters: Parameters
    init: Any
    mask: Any
    accelerator: speed.Accelerator


def guided(job: _Job) -> bool:
    """Whether each step runs the UNet on a batch of two, as diffusers decides: guidance
    above 1, unless the UNet embeds the guidance scale itself (``time_cond_proj_dim``)."""
    return job.call["guidance_scale"] > 1 and job.pipe.unet.config.time_cond_proj_dim is None


def _prepare(options: GenerateOptions, compile_progress: Reporter | None = None) -> _Job:
    _check_model_path(options.model)
    init, mask = _read_inputs(options)
    loader_options = {"config": str(options.config)} if options.config else {}
    model: DiffusionModel = load(options.model, FAMILY, **loader_options)
    if model.is_inpainting_model and options.mode != "inpaint":
        raise BadInputError(
            f"{model.name} is an inpainting model: give it an init image and a mask.",
            param="model",
        )
    size = _size(options, model, init)
    check_size(*size)
    plan = speed.plan(model, options, size, model.pipe.device.type)  # checks it fits
    init, mask = _fit(init, size), _fit(mask, size, mask=True)
    options, controlnet, call = _control(options, size)
    pipe = model.pipeline(options.mode, scheduler_spec(options.scheduler), controlnet)
    call |= {
        "num_inference_steps": options.steps,
        "guidance_scale": options.guidance,
        "width": size[0],
        "height": size[1],
    }
    if init is not None:
        call |= {"image": init, "strength": options.strength}
    if mask is not None:
        call["mask_image"] = mask
    accelerator = speed.Accelerator(model, plan, compile_progress)
    return _Job(model, pipe, call, _parameters(options, model, size), init, mask, accelerator)


def iter_generate(
    options: GenerateOptions,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[GeneratedImage]:
    """Each image of ``options`` as it finishes (see the module docstring)."""
    options, few_step_notes = _few_step(validate(options))
    job = _prepare(options, Reporter(progress, "compile", unit="UNet", cancel=cancel))
    per_image = _timesteps(options)
    reporter = Reporter(progress, "generate", unit="steps", cancel=cancel)
    reporter(0, per_image * options.n)
    conditioning: prompts.Conditioning | None = None
    encode_s = 0.0
    for index, seed in enumerate(options.seeds()):
        with job.model.run_lock:
            lora.activate(job.model.pipe, job.model.adapters, options.loras)
            if conditioning is None:  # after the LoRAs: they may change the text encoder
                started = time.perf_counter()
                conditioning = prompts.encode(job.pipe, options.prompt, options.negative)
                encode_s = time.perf_counter() - started
            clock = _StepClock(reporter, index * per_image, per_image * options.n)
            call = job.call | conditioning.kwargs
            with job.accelerator.image(job.pipe, call, guided(job)):
                image = _run_one(job.pipe, call, seed, clock)
        finished = time.perf_counter()
        if job.mask is not None:
            image = paste_unmasked(image, job.init, job.mask)
        yield GeneratedImage(
            parameters=replace(job.parameters, seed=seed),
            timings=_timings(clock, finished, encode_s if index == 0 else 0.0),
            notes=few_step_notes + conditioning.notes + tuple(job.accelerator.notes),
            image=image,
        )


def _few_step(options: GenerateOptions) -> tuple[GenerateOptions, tuple[str, ...]]:
    """A few-step LoRA's own sampler, steps and guidance, when the request left all three at
    their defaults (a request that set any of them keeps what it set)."""
    profile = lora.few_step_profile(options.loras)
    defaults = (DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_SCHEDULER)
    if profile is None or (options.steps, options.guidance, options.scheduler) != defaults:
        return options, ()
    note = (
        f"{profile.family} recognised: {profile.steps} steps of {profile.scheduler} at "
        f"guidance {profile.guidance:g}, as it was distilled for."
    )
    tuned = replace(
        options, steps=profile.steps, guidance=profile.guidance, scheduler=profile.scheduler
    )
    return tuned, (note,)


def _timings(clock: _StepClock, finished: float, encode_s: float) -> Timings:
    stamps = clock.stamps
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    return Timings(
        encode_s=round(encode_s, 4),
        step_s=round(statistics.median(steps), 4) if steps else 0.0,
        steps=len(steps),
        decode_s=round(finished - stamps[-1], 4),
        total_s=round(finished - stamps[0] + encode_s, 4),
    )


def paste_unmasked(generated: Any, init: Any, mask: Any) -> Any:
    """The generated image where the mask is white, the input's own pixels where it is black
    (grey blends). Decoding through the VAE changes every pixel slightly, so without this the
    part the user wanted kept would come back subtly altered."""
    from PIL import Image

    return Image.composite(generated.convert("RGB"), init.convert("RGB"), mask.convert("L"))
