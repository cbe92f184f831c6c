"""Samplers by the names people know from A1111 and ComfyUI, mapped to diffusers schedulers.

Why a table: a user copies "DPM++ 2M Karras" from a prompt they liked, and diffusers spells it
``DPMSolverMultistepScheduler(use_karras_sigmas=True)``. The table follows diffusers' own
A1111 correspondence (its "schedulers" doc). Each entry keeps the A1111 sampler name and the
schedule type apart, because A1111 (1.9 on) writes them into a PNG as two fields
(``Sampler: DPM++ 2M, Schedule type: Karras``).

Schedulers that need ``torchsde`` (A1111's "DPM++ SDE") are left out rather than failing at
the first step; "DPM++ 2M SDE" runs on diffusers' own noise and is in.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from polymodal.errors import BadInputError

DEFAULT_SCHEDULER = "DPM++ 2M Karras"


@dataclass(frozen=True)
class SchedulerSpec:
    """One sampler: its A1111 sampler name and schedule type, and the diffusers class + flags."""

    name: str
    sampler: str
    schedule: str | None
    cls: str
    flags: dict[str, Any] = field(default_factory=dict)


def _spec(name: str, cls: str, **flags: Any) -> SchedulerSpec:
    sampler, karras = (
        (name.removesuffix(" Karras"), True) if name.endswith(" Karras") else (name, False)
    )
    if karras:
        flags["use_karras_sigmas"] = True
    return SchedulerSpec(name, sampler, "Karras" if karras else None, cls, flags)


_SDE = {"algorithm_type": "sde-dpmsolver++"}

SCHEDULERS: dict[str, SchedulerSpec] = {
    spec.name: spec
    for spec in (
        _spec("DPM++ 2M", "DPMSolverMultistepScheduler"),
        _spec("DPM++ 2M Karras", "DPMSolverMultistepScheduler"),
        _spec("DPM++ 2M SDE", "DPMSolverMultistepScheduler", **_SDE),
        _spec("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler", **_SDE),
        _spec("DPM2", "KDPM2DiscreteScheduler"),
        _spec("DPM2 Karras", "KDPM2DiscreteScheduler"),
        _spec("DPM2 a", "KDPM2AncestralDiscreteScheduler"),
        _spec("DPM2 a Karras", "KDPM2AncestralDiscreteScheduler"),
        _spec("Euler", "EulerDiscreteScheduler"),
        _spec("Euler a", "EulerAncestralDiscreteScheduler"),
        _spec("Heun", "HeunDiscreteScheduler"),
        _spec("LMS", "LMSDiscreteScheduler"),
        _spec("LMS Karras", "LMSDiscreteScheduler"),
        _spec("DEIS", "DEISMultistepScheduler"),
        _spec("UniPC", "UniPCMultistepScheduler"),
        _spec("DDIM", "DDIMScheduler", clip_sample=False),  # SD never clips
        _spec("PNDM", "PNDMScheduler"),
        _spec("LCM", "LCMScheduler"),
        _spec("TCD", "TCDScheduler"),
    )
}

#: Other spellings: A1111's older names and ComfyUI's ``sampler_name`` values.
ALIASES = {
    "plms": "PNDM",
    "euler_ancestral": "Euler a",
    "euler": "Euler",
    "heun": "Heun",
    "lms": "LMS",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
    "deis": "DEIS",
    "lcm": "LCM",
    "tcd": "TCD",
}


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


_LOOKUP = {_key(name): name for name in SCHEDULERS} | {_key(a): n for a, n in ALIASES.items()}


def known_names() -> list[str]:
    """The names :func:`scheduler_spec` accepts as written in A1111 (aliases not listed)."""
    return list(SCHEDULERS)


def scheduler_spec(name: str, schedule: str | None = None) -> SchedulerSpec:
    """The sampler called ``name`` (any case, A1111 or ComfyUI spelling), with an optional
    separate schedule type (``"Karras"``, as A1111 1.9+ and ComfyUI store it).

    Unknown names get one sentence listing the known ones.
    """
    key = _key(name)
    if schedule and _key(schedule) == "karras" and not key.endswith("karras"):
        key = f"{_key(_LOOKUP.get(key, name))} karras"
    if key in _LOOKUP:
        return SCHEDULERS[_LOOKUP[key]]
    close = difflib.get_close_matches(name, known_names(), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise BadInputError(
        f"Unknown scheduler '{name}'.{hint} Known schedulers: {', '.join(known_names())}.",
        param="scheduler",
    )


def make_scheduler(spec: SchedulerSpec, base_config: Any) -> Any:
    """A fresh scheduler of ``spec`` built from a model's own scheduler config (its beta
    schedule and prediction type), so the model's training settings are kept."""
    diffusers = importlib.import_module("diffusers")
    cls = getattr(diffusers, spec.cls)
    return cls.from_config(base_config, **spec.flags)
