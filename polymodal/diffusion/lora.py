"""LoRAs: ``PATH[:SCALE]`` parsed, files checked, adapters loaded once and switched per request.

diffusers' ``load_lora_weights`` reads diffusers/peft LoRAs and converts Kohya and A1111 files
(``lora_unet_...`` keys) itself, so the files people download work as they are. A LoRA is
injected into the model's shared UNet and text encoder, so each loaded file stays as a named
adapter and every request sets exactly its own adapters and scales (none: LoRA layers off)
while it holds the model's lock. Loading a file again is never needed; scale 0 makes a LoRA
contribute nothing at all.

A few-step LoRA (LCM-LoRA, Hyper-SD, TCD) is recognised by its name and brings its sampler,
steps and guidance when the request left those at their defaults (see :func:`few_step_profile`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from polymodal.diffusion.hashes import lora_hash
from polymodal.diffusion.results import LoraWeight
from polymodal.errors import BadInputError

LORA_SUFFIXES = (".safetensors", ".bin", ".pt")


@dataclass(frozen=True)
class FewStep:
    """The settings a few-step LoRA was distilled for: its sampler, steps and guidance
    (guidance 1 keeps one UNet pass per step, half the work of classifier-free guidance)."""

    family: str
    scheduler: str
    steps: int
    guidance: float


# Recognised by the file name, as these LoRAs are published and shared ("lcm-lora-sdv1-5",
# "Hyper-SD15-8steps-lora", "TCD-SD15-LoRA"); the settings are their authors' recommendations.
_FEW_STEP = (
    ("lcm", FewStep("LCM-LoRA", "LCM", 6, 1.0)),
    ("tcd", FewStep("TCD-LoRA", "TCD", 4, 1.0)),
    ("hyper", FewStep("Hyper-SD", "TCD", 8, 1.0)),
)
_STEPS_IN_NAME = re.compile(r"(\d+)[-_ ]?steps?")


def few_step_profile(loras: Sequence[LoraWeight]) -> FewStep | None:
    """The first applied (scale > 0) LoRA's few-step settings, when it is one of those."""
    for lora in loras:
        name = Path(lora.path).stem.lower()
        for key, profile in _FEW_STEP:
            if key in name and lora.scale > 0:
                steps = _STEPS_IN_NAME.search(name)
                return replace(profile, steps=int(steps[1])) if steps else profile
    return None


def parse_lora(text: str) -> LoraWeight:
    """``"detail.safetensors:0.7"`` -> the file at scale 0.7 (scale 1 when none is given)."""
    path, sep, scale = text.rpartition(":")
    if sep and path and not scale.startswith(("\\", "/")):
        try:
            return LoraWeight(path=path, scale=float(scale))
        except ValueError:
            raise BadInputError(
                f"The scale in '{text}' is not a number (PATH:SCALE, as in a.safetensors:0.8).",
                param="loras",
            ) from None
    return LoraWeight(path=text)


def resolve_lora(lora: LoraWeight) -> LoraWeight:
    """The LoRA with an absolute path and its hash, or one sentence when the file is wrong."""
    path = Path(lora.path).expanduser()
    if not path.is_file():
        raise BadInputError(f"{path}: no such LoRA file.", param="loras")
    if path.suffix.lower() not in LORA_SUFFIXES:
        raise BadInputError(
            f"{path} is not a LoRA file (expected {', '.join(LORA_SUFFIXES)}).", param="loras"
        )
    if not -4 <= lora.scale <= 4:
        raise BadInputError(f"A LoRA scale is -4 to 4, not {lora.scale}.", param="loras")
    return LoraWeight(str(path.resolve()), float(lora.scale), lora_hash(path))


def adapter_name(lora: LoraWeight) -> str:
    """One adapter per file content: the same file under two paths loads once."""
    return f"lora_{lora.hash}"


def activate(pipe: Any, loaded: set[str], loras: Sequence[LoraWeight]) -> None:
    """Make exactly ``loras`` active on ``pipe`` at their scales, loading new files first.

    ``loaded`` is the model's set of adapter names already loaded (updated here). The caller
    holds the model's lock: adapters live in the shared UNet and text encoder.
    """
    names = []
    for lora in loras:
        name = adapter_name(lora)
        if name not in loaded:
            _load(pipe, lora, name)
            loaded.add(name)
        names.append(name)
    if not loaded:
        return
    if names:
        pipe.enable_lora()
        pipe.set_adapters(names, adapter_weights=[lora.scale for lora in loras])
    else:
        pipe.disable_lora()


def _load(pipe: Any, lora: LoraWeight, name: str) -> None:
    try:
        pipe.load_lora_weights(lora.path, adapter_name=name)
    except Exception as exc:
        with contextlib.suppress(Exception):  # no half-injected adapter may stay behind
            pipe.delete_adapters([name])
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(
            f"{Path(lora.path).name} is not a LoRA this model can use: {reason.rstrip('.')}.",
            param="loras",
        ) from exc
