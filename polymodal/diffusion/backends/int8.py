"""int8 weight compression of the UNet's Linear layers (the ``fast`` preset), checked.

PyTorch's dynamic quantisation (``torch.ao``: int8 weights per output channel, activations
quantised per call, fbgemm/oneDNN kernels with VNNI on this CPU) replaces every
``nn.Linear`` of the UNet: attention projections, the feed-forward layers, the time
embedding. Convolutions and the attention product itself stay fp32. It runs in eager PyTorch,
so it composes with DeepCache's hooks (a cached step's last attention block gains too), and it
works for SD 1.x, 2.x and SDXL alike.

The quantised layers are made once per model in a process (seconds: about 270 M of SD 1.5's
860 M weights) and kept beside it (``DiffusionModel.compiled``); they are swapped into the
shared UNet only for the duration of one UNet call, so the ``default`` preset and every other
caller keep the fp32 module. A disk copy would save those seconds only, so there is none.

Quality check: the first UNet call of a model at a given shape runs both ways on the request's
own inputs, and int8 is trusted only when its noise prediction's cosine with fp32's is at least
:data:`QUALITY_MIN` (the bound the issue sets for every compiled or compressed UNet). The
verdict is stored under ``$POLYMODAL_HOME/cache/diffusion-int8/<key>.json`` (the key: the
UNet's weight digest, the input shapes, the scheme and torch's version), so later requests and
processes skip the check; a failing model runs in fp32 with a warning on every request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.config import settings
from polymodal.media.files import write_atomic

QUALITY_MIN = 0.999
SCHEME = "torch-dynamic-int8-linear-per-channel"
HOOK = "polymodal_int8_unet"

#: Quality checks run in this process, for the tests that check the verdict is reused.
CHECKS: list[Path] = []


@dataclass(frozen=True)
class Verdict:
    """Whether int8 serves one UNet at one shape, with the cosine that decided it."""

    ok: bool
    cosine: float

    @property
    def reason(self) -> str:
        return (
            f"The int8 UNet's noise prediction differs from fp32's (cosine {self.cosine:.5f} < "
            f"{QUALITY_MIN}); running it in fp32 instead."
        )


def _quantize(linear: Any) -> Any:
    import torch.ao.nn.quantized.dynamic as nnqd
    from torch.ao.quantization import per_channel_dynamic_qconfig

    linear.qconfig = per_channel_dynamic_qconfig
    try:
        with warnings.catch_warnings():  # torch 2.13 marks quantised tensors deprecated
            warnings.simplefilter("ignore")
            return nnqd.Linear.from_float(linear)
    finally:
        del linear.qconfig


def cosine(a: Any, b: Any) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm() + 1e-30))


class Int8UNet:
    """The int8 copies of one UNet's Linear layers, and the quality verdicts per shape.

    Layers are found by identity, wherever they sit (a LoRA's wrapper holds the original as
    its ``base_layer``), so swapping in and out never renames the UNet's modules.
    """

    def __init__(self, unet: Any) -> None:
        import torch

        self.layers = {
            id(m): (m, _quantize(m)) for m in unet.modules() if type(m) is torch.nn.Linear
        }
        self.verdicts: dict[tuple[Any, ...], Verdict] = {}
        self._digest: str | None = None
        self._lock = threading.Lock()

    @property
    def memory_mb(self) -> float:
        """What the int8 copies hold: a byte per weight, beside the fp32 layers kept."""
        return sum(m.weight.numel() for m, _ in self.layers.values()) / 2**20

    @contextlib.contextmanager
    def swapped(self, unet: Any) -> Iterator[None]:
        """Within the block, ``unet`` computes with the int8 layers."""
        places = [
            (parent, name, child)
            for parent in unet.modules()
            for name, child in parent.named_children()
            if self.layers.get(id(child), (None,))[0] is child
        ]
        for parent, name, child in places:
            setattr(parent, name, self.layers[id(child)][1])
        try:
            yield
        finally:
            for parent, name, child in places:
                setattr(parent, name, child)

    def verdict_path(self, unet: Any, shape: tuple[Any, ...]) -> Path:
        import torch

        from polymodal.diffusion.backends.onnx import weights_digest

        if self._digest is None:
            self._digest = weights_digest(unet)
        key = f"{self._digest}|{shape}|{SCHEME}|torch{torch.__version__}"
        name = hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
        return settings().cache_dir / "diffusion-int8" / f"{name}.json"

    def known(self, unet: Any, shape: tuple[Any, ...]) -> Verdict | None:
        """The verdict for ``shape`` from this process or the disk, or ``None``."""
        if shape not in self.verdicts:
            path = self.verdict_path(unet, shape)
            if not path.exists():
                return None
            meta = json.loads(path.read_text(encoding="utf-8"))
            self.verdicts[shape] = Verdict(bool(meta["ok"]), float(meta["cosine"]))
        return self.verdicts[shape]

    def record(self, unet: Any, shape: tuple[Any, ...], measured: float) -> Verdict:
        verdict = Verdict(measured >= QUALITY_MIN, measured)
        self.verdicts[shape] = verdict
        path = self.verdict_path(unet, shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"ok": verdict.ok, "cosine": measured, "min": QUALITY_MIN, "scheme": SCHEME}
        write_atomic(path, json.dumps(meta | {"shape": repr(shape)}, indent=2))
        CHECKS.append(path)
        return verdict


def _shape(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The shapes of a UNet call's tensors (positional and keyword), as the verdict's key."""
    import torch

    def shape_of(value: Any) -> Any:
        if torch.is_tensor(value):
            return tuple(value.shape)
        if isinstance(value, dict):
            return tuple(sorted((k, shape_of(v)) for k, v in value.items()))
        if isinstance(value, list | tuple):
            return tuple(shape_of(v) for v in value)
        return None

    return (shape_of(args), shape_of(kwargs))


def _noise(output: Any) -> Any:
    return output[0] if isinstance(output, tuple) else output.sample


@contextlib.contextmanager
def int8_unet(
    unet: Any, weights: Int8UNet, on_fallback: Callable[[Verdict], None]
) -> Iterator[None]:
    """Within the block, ``unet``'s calls run with int8 Linear layers where the model passed
    its quality check at that shape (checked on the first such call), else in fp32 after
    ``on_fallback``. Registered inside DeepCache's hooks: a checked step runs fp32 first and
    int8 last, so the deep features DeepCache keeps are the int8 ones a later request gets."""
    from diffusers.hooks import HookRegistry, ModelHook

    class Run(ModelHook):
        def new_forward(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            forward = self.fn_ref.original_forward
            shape = _shape(args, kwargs)
            with weights._lock:
                verdict = weights.known(module, shape)
                if verdict is None:
                    full = forward(*args, **kwargs)
                    with weights.swapped(module):
                        out = forward(*args, **kwargs)
                    verdict = weights.record(module, shape, cosine(_noise(full), _noise(out)))
                    if verdict.ok:
                        return out
                    on_fallback(verdict)
                    return forward(*args, **kwargs)  # DeepCache keeps fp32 features, as later
            if not verdict.ok:
                on_fallback(verdict)
                return forward(*args, **kwargs)
            with weights.swapped(module):
                return forward(*args, **kwargs)

    registry = HookRegistry.check_if_exists_or_initialize(unet)
    registry.register_hook(Run(), HOOK)
    try:
        yield
    finally:
        registry.remove_hook(HOOK, recurse=False)
