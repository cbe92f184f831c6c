"""DeepCache: reuse the UNet's deep features across denoising steps (the ``fast`` preset).

Ma, Fang and Wang, "DeepCache: Accelerating Diffusion Models for Free", CVPR 2024: between
adjacent steps the UNet's high-level (deep, low-resolution) features barely change, so they
are computed on one step in ``interval`` and reused on the steps between, where only the
shallowest branch runs: ``conv_in``, then the last layer of the last up block (which reads
``conv_in``'s skip connection and the cached deep features), then ``conv_out``. This is the
paper's uniform schedule at its shallowest skip branch.

diffusers 0.42 has caches for transformer models (FirstBlockCache, FasterCache, ...) but none
for ``UNet2DConditionModel``, so this is written here, on diffusers' own hook machinery
(``HookRegistry``/``ModelHook``): every skipped module returns what it returned on the last
full step instead of running. Nothing is copied or rewritten, the hooks come off after the
request, and the same code serves SD 1.x, 2.x and SDXL UNets (and a ControlNet's residuals,
which are added to the cached skip features as usual).

Measured on this machine (2-core Zen 4, fp32, SD 1.5 at 512x512 with guidance): see
:mod:`polymodal.diffusion.speed`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

HOOK = "polymodal_deepcache"
DEFAULT_INTERVAL = 3  # the paper's N=3 keeps quality closest to the full model among its gains


class Schedule:
    """Which step the UNet is on, and whether it is a full one (every ``interval``-th)."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.calls = 0
        self.full_steps = 0

    @property
    def reuse(self) -> bool:
        """True while the current UNet call may return cached deep features."""
        return (self.calls - 1) % self.interval != 0


def _hook_classes() -> tuple[type, type]:
    """The two hook types, made on first use so importing this module needs no diffusers."""
    from diffusers.hooks import ModelHook

    class Count(ModelHook):
        """On the UNet itself: counts its calls (one per step: guidance runs as one batch)."""

        def __init__(self, schedule: Schedule) -> None:
            super().__init__()
            self.schedule = schedule

        def pre_forward(self, module: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            self.schedule.calls += 1
            if not self.schedule.reuse:
                self.schedule.full_steps += 1
            return args, kwargs

    class Reuse(ModelHook):
        """On a deep module: runs and remembers on full steps, replays on the others."""

        def __init__(self, schedule: Schedule) -> None:
            super().__init__()
            self.schedule = schedule
            self.output: Any = None

        def new_forward(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            if self.schedule.reuse and self.output is not None:
                return self.output
            self.output = self.fn_ref.original_forward(*args, **kwargs)
            return self.output

    return Count, Reuse


def deep_modules(unet: Any) -> list[Any]:
    """The modules a cached step skips: every down block, the mid block, every up block but
    the last, and in the last every layer but its final resnet (and attention)."""
    last = unet.up_blocks[-1]
    skipped = [*unet.down_blocks, *unet.up_blocks[:-1], *last.resnets[:-1]]
    if unet.mid_block is not None:
        skipped.append(unet.mid_block)
    attentions = getattr(last, "attentions", None)
    if attentions:
        skipped.extend(attentions[:-1])
    return skipped


def shallow_step(unet: Any, sample: Any, timestep: Any, states: Any, deep: Any) -> Any:
    """A cached step's noise prediction from the deep features of the last full step (see
    :func:`~polymodal.diffusion.backends.onnx.deep_features`): what :func:`deepcache`'s hooks
    leave running, written out for a UNet whose full steps run compiled (SD 1.x/2.x: no class
    or added embeddings), so no deep module is touched: the time embedding, ``conv_in``, the
    last up block's final resnet (and attention) on ``[deep, conv_in]``, then ``conv_out``."""
    import torch

    emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=timestep), None)
    if unet.time_embed_act is not None:
        emb = unet.time_embed_act(emb)
    hidden = unet.conv_in(sample)
    last = unet.up_blocks[-1]
    hidden = last.resnets[-1](torch.cat([deep, hidden], dim=1), emb)
    attentions = getattr(last, "attentions", None)
    if attentions:
        hidden = attentions[-1](hidden, encoder_hidden_states=states, return_dict=False)[0]
    if unet.conv_norm_out is not None:
        hidden = unet.conv_act(unet.conv_norm_out(hidden))
    return unet.conv_out(hidden)


@contextlib.contextmanager
def deepcache(unet: Any, interval: int = DEFAULT_INTERVAL) -> Iterator[Schedule]:
    """Within the block, ``unet`` runs fully on one step in ``interval`` (the first included)
    and reuses its deep features on the others; the hooks come off on exit.

    One request at a time: the caller holds the model's run lock, and one pipeline call (one
    image) per block, since the cache is a function of that image's trajectory.
    """
    from diffusers.hooks import HookRegistry

    if interval < 2:  # every step full: nothing to cache
        yield Schedule(1)
        return
    count, reuse = _hook_classes()
    schedule = Schedule(interval)
    modules = [unet, *deep_modules(unet)]
    registries = [HookRegistry.check_if_exists_or_initialize(m) for m in modules]
    registries[0].register_hook(count(schedule), HOOK)
    for registry in registries[1:]:
        registry.register_hook(reuse(schedule), HOOK)
    try:
        yield schedule
    finally:
        for registry in registries:
            registry.remove_hook(HOOK, recurse=False)
