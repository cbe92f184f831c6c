"""Stable Diffusion models through the catalogue: load once, then a pipeline per mode on demand.

:func:`load_diffusion` is the ``diffusion`` family's loader (``models.toml``). It takes a
diffusers folder (a Hugging Face snapshot or ``save_pretrained`` output) or a single
``.safetensors``/``.ckpt`` checkpoint as people download them, read with ``from_single_file``
and a local configuration so it works offline. The safety checker is never loaded: screening,
where wanted, is done by the vision room's moderation above this room.

:class:`DiffusionModel` keeps the loaded text-to-image pipeline and hands out a fresh pipeline
object per request (``from_pipe``: the same UNet, VAE and text encoder, no copy) with its own
scheduler, so concurrent requests never change each other's settings. The components stay
plain attributes of ``model.pipe``; the speed presets (:mod:`polymodal.diffusion.speed`)
attach to them as hooks for one request and leave them as they were.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polymodal.catalog.locate import ResolvedModel
from polymodal.diffusion import hashes
from polymodal.diffusion.schedulers import SchedulerSpec, make_scheduler
from polymodal.errors import ModelUnavailableError, require

log = logging.getLogger(__name__)

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
_SDXL_KEY = "conditioner.embedders.1"  # only SDXL checkpoints carry a second text encoder

_TEXT2IMG = {
    "StableDiffusionPipeline": "StableDiffusionPipeline",
    "StableDiffusionImg2ImgPipeline": "StableDiffusionPipeline",
    "StableDiffusionInpaintPipeline": "StableDiffusionPipeline",
    "StableDiffusionXLPipeline": "StableDiffusionXLPipeline",
    "StableDiffusionXLImg2ImgPipeline": "StableDiffusionXLPipeline",
    "StableDiffusionXLInpaintPipeline": "StableDiffusionXLPipeline",
}
_MODES = {
    "txt2img": "AutoPipelineForText2Image",
    "img2img": "AutoPipelineForImage2Image",
    "inpaint": "AutoPipelineForInpainting",
}


class DiffusionModel:
    """A loaded Stable Diffusion model: ``pipe`` (text-to-image) and what results record.

    ``name`` is what A1111's ``Model:`` field gets (the catalogue name or the file's stem);
    ``weights`` the file or folder the weights came from, for :attr:`hash`.
    """

    def __init__(self, pipe: Any, name: str, weights: Path) -> None:
        self.pipe = pipe
        self.name = name
        self.weights = weights
        self._hash: str | None = None
        self._lock = threading.Lock()
        #: Held while a request sets its LoRAs and denoises: adapters live in the shared
        #: UNet and text encoder, so two requests must not interleave there.
        self.run_lock = threading.RLock()
        #: The LoRA adapters loaded into this model (see :mod:`polymodal.diffusion.lora`).
        self.adapters: set[str] = set()
        #: Compiled UNets by input shape (``None``: that export failed its parity check), kept
        #: with the model so they live and go with it (see :mod:`polymodal.diffusion.speed`).
        self.compiled: dict[Any, Any] = {}

    @property
    def memory_mb(self) -> float:
        """The weights' size in memory, which the resident cache budgets with."""
        total = 0
        for component in self.pipe.components.values():
            parameters = getattr(component, "parameters", None)
            if callable(parameters):
                total += sum(p.numel() * p.element_size() for p in parameters())
        return total / 2**20

    @property
    def is_xl(self) -> bool:
        return type(self.pipe).__name__.startswith("StableDiffusionXL")

    @property
    def is_inpainting_model(self) -> bool:
        """A model trained for inpainting only (its UNet also reads the mask and the masked
        image: 9 input channels), such as ``sd-1.5-inpainting``."""
        return int(self.pipe.unet.config.in_channels) == 9

    @property
    def native_size(self) -> int:
        """The side the model was trained at (512 for SD 1.5, 768 for SD 2.1, 1024 for SDXL)."""
        return int(self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor)

    @property
    def hash(self) -> str:
        """A1111's ``Model hash`` (AutoV2: the first 10 hex digits of a checkpoint file's
        SHA-256, as civitai shows it); for a diffusers folder, ours (see
        :mod:`~polymodal.diffusion.hashes`). Hashed once per file, then cached on disk."""
        with self._lock:
            if self._hash is None:
                self._hash = hashes.model_hash(self.weights)
            return self._hash

    def pipeline(self, mode: str, scheduler: SchedulerSpec, controlnet: Any = None) -> Any:
        """A pipeline for ``mode`` (``txt2img``, ``img2img``, ``inpaint``) sharing this model's
        components, with a fresh ``scheduler`` built from the model's scheduler config (and
        ``controlnet``, a loaded ``ControlNetModel``, when given)."""
        with quiet_libraries():
            auto = getattr(require("diffusers", "generate"), _MODES[mode])
        fresh = make_scheduler(scheduler, self.pipe.scheduler.config)
        extra = {"controlnet": controlnet} if controlnet is not None else {}
        pipe = auto.from_pipe(self.pipe, scheduler=fresh, **extra)
        pipe.set_progress_bar_config(disable=True)
        return pipe


def _device_and_dtype() -> tuple[str, Any]:
    """fp16 on CUDA; fp32 on CPU (this CPU has no bf16 instructions: bf16 is 100x slower)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.float16
    return "cpu", torch.float32


def _pipeline_class(config_dir: Path | None, checkpoint: Path | None = None) -> str:
    """The text-to-image class for a folder's ``model_index.json``, or for a checkpoint's keys."""
    if config_dir is not None:
        index = config_dir / "model_index.json"
        if not index.exists():
            raise ModelUnavailableError(
                f"{config_dir} is not a diffusers model folder: it has no model_index.json.",
                param="model",
            )
        class_name = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")
        if class_name not in _TEXT2IMG:
            raise ModelUnavailableError(
                f"{config_dir} holds a {class_name or 'unknown'} model, not Stable Diffusion "
                "1.x/2.x or SDXL.",
                param="model",
            )
        return _TEXT2IMG[class_name]
    if checkpoint is not None and checkpoint.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(checkpoint), framework="pt") as handle:
            if any(key.startswith(_SDXL_KEY) for key in handle.keys()):  # noqa: SIM118
                return "StableDiffusionXLPipeline"
    return "StableDiffusionPipeline"


def _no_safety_checker(config_dir: Path | None, class_name: str) -> dict[str, Any]:
    """Arguments that keep the safety checker out (only SD 1.x/2.x pipelines have one)."""
    if class_name != "StableDiffusionPipeline":
        return {}
    return {"safety_checker": None, "requires_safety_checker": False, "feature_extractor": None}


def load_diffusion(resolved: ResolvedModel, *, config: str | None = None) -> DiffusionModel:
    """The ``diffusion`` family's loader: a diffusers folder, or a single checkpoint file with
    ``config`` (a diffusers folder of the same architecture) for its configuration.

    Without ``config`` a checkpoint's configuration comes from the Hugging Face cache, as
    diffusers infers it (offline only when that model was downloaded once); otherwise the
    sentence says what to pass.
    """
    with quiet_libraries():
        return _load(resolved, config)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """No loading bars (our shells draw their own) and no transformers warnings while the
    pipeline's modules import: it warns about every image processor lacking torchvision,
    which Stable Diffusion never uses (the safety checker's feature extractor is not loaded)."""
    diffusers = require("diffusers", "generate")
    transformers = require("transformers", "generate")
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    level = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.utils.logging.set_verbosity(level)


def _load(resolved: ResolvedModel, config: str | None) -> DiffusionModel:
    diffusers = require("diffusers", "generate")
    path = resolved.path
    device, dtype = _device_and_dtype()
    config_dir = Path(config).expanduser().resolve() if config else None
    try:
        if path.is_file():
            pipe = _load_single_file(diffusers, path, config_dir, dtype)
        else:
            class_name = _pipeline_class(path)
            pipe = getattr(diffusers, class_name).from_pretrained(
                str(path),
                dtype=dtype,
                local_files_only=True,
                **_no_safety_checker(path, class_name),
            )
    except ModelUnavailableError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(
            f"The diffusion model at {path} could not be loaded: {reason.rstrip('.')}.",
            param="model",
        ) from exc
    if device != "cpu":  # loaded on the CPU already; .to() there only warns about dtypes
        pipe.to(device)
    name = resolved.spec.name if resolved.spec.source.startswith("hf:") else path.stem
    return DiffusionModel(pipe, name=name, weights=path)


def _load_single_file(diffusers: Any, path: Path, config_dir: Path | None, dtype: Any) -> Any:
    if path.suffix not in SINGLE_FILE_SUFFIXES:
        raise ModelUnavailableError(
            f"{path} is not a Stable Diffusion checkpoint: expected a diffusers folder or a "
            f"{' or '.join(SINGLE_FILE_SUFFIXES)} file.",
            param="model",
        )
    class_name = _pipeline_class(config_dir, checkpoint=path)
    extra = {"config": str(config_dir)} if config_dir else {}
    try:
        return getattr(diffusers, class_name).from_single_file(
            str(path),
            dtype=dtype,
            local_files_only=True,
            **extra,
            **_no_safety_checker(config_dir, class_name),
        )
    except (OSError, ValueError) as exc:
        if config_dir is None and ("local" in str(exc).lower() or "offline" in str(exc).lower()):
            raise ModelUnavailableError(
                f"The checkpoint {path.name} needs its model configuration, which is not on "
                "this machine: give a diffusers folder of the same model type as its config.",
                param="config",
            ) from exc
        raise
