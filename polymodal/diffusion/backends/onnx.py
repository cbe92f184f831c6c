"""The UNet compiled: exported to ONNX once per model and shape, checked, cached on disk, and
run by OpenVINO (or ONNX Runtime where OpenVINO is not installed).

Why OpenVINO first: on two Zen 3 cores (``bench/diffusion.py``, SD 1.5 at 512 px with
guidance, one process at a time) OpenVINO 2026.4 ran a step in 8.6-9.1 s against PyTorch
eager's 11.4-13.1 s (about 1.35x) and ONNX Runtime 1.32's 10.3-11.9 s on the same export,
most likely because OpenVINO fuses the attention (a softmax over a 4096 x 4096 score matrix
per head at 512 px) that ONNX Runtime runs op by op. Both read the same ONNX file.

The export (minutes for SD 1.5's 3.4 GB UNet on two cores) is paid once per model, shape and
library versions: it lives under the cache directory (``$POLYMODAL_HOME/cache/diffusion-unet/
<key>``), keyed by a digest of the UNet's configuration and weights, the input shapes (static:
batch, latent size, prompt tokens) and the torch / diffusers / runtime versions, so a new
LoRA-free request of the same shape loads the file and compiles nothing (OpenVINO's own
compile from the file takes seconds). A first run reports a ``compile`` progress stage, so the
user sees why it waits.

An export is trusted only after its noise prediction, run by the runtime that will run it,
matches PyTorch's on sample inputs (cosine >= :data:`PARITY_MIN`). The verdict is stored
beside the file, keyed by that runtime and its version: a failing export is never retried,
and the UNet falls back to PyTorch eager with a warning each time, so a bad exporter never
silently changes images.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.config import settings
from polymodal.media.files import write_atomic

log = logging.getLogger(__name__)

PARITY_MIN = 0.999
OPSET = 17
HOOK = "polymodal_onnx_unet"
MODEL_FILE = "unet.onnx"

#: Exports made in this process, for the tests that check the cache is reused.
EXPORTS: list[Path] = []


@dataclass(frozen=True)
class Shape:
    """The static input shapes one export serves: the UNet batch (2 with guidance), the
    latent height and width, and the prompt's token count (77 per chunk)."""

    batch: int
    height: int
    width: int
    tokens: int
    channels: int
    context: int
    #: Also output the deep features DeepCache reuses (see :func:`deep_features`).
    deep: bool = False

    def sample(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.height, self.width)

    def states(self) -> tuple[int, int, int]:
        return (self.batch, self.tokens, self.context)


def supports(unet: Any) -> bool:
    """Whether the UNet's inputs are only latents, timestep and text states (SD 1.x/2.x): SDXL
    also takes pooled and size embeddings, which this export does not carry."""
    config = unet.config
    return not config.addition_embed_type and not config.class_embed_type


def weights_digest(unet: Any) -> str:
    """A short digest of the UNet's configuration and every weight tensor's shape and leading
    values: cheap (milliseconds) and different for any other checkpoint or fine-tune."""
    import torch

    digest = hashlib.blake2b(digest_size=10)
    # Private keys vary between processes (``_use_default_values`` is a set's order).
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, tensor in unet.state_dict().items():
            flat = tensor.detach().reshape(-1)
            head = flat[:64].to(torch.float32).cpu().numpy().tobytes()
            tail = flat[-64:].to(torch.float32).cpu().numpy().tobytes()
            digest.update(f"{name}:{tuple(tensor.shape)}".encode() + head + tail)
    return digest.hexdigest()


def runtime() -> str:
    """The runtime that runs exports: ``"openvino"`` when it is installed (faster here: see the
    module docstring), else ``"onnxruntime"``."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "onnxruntime"
    return "openvino"


def _runtime_version(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


def versions() -> str:
    """The libraries an export and its parity verdict depend on, for the cache key."""
    import diffusers
    import torch

    name = runtime()
    runner = f"{name}{_runtime_version(name)}"
    return f"torch{torch.__version__}-diffusers{diffusers.__version__}-{runner}"


def export_dir(unet: Any, shape: Shape) -> Path:
    """Where this UNet's export for ``shape`` lives (see the module docstring)."""
    key = hashlib.blake2b(
        f"{weights_digest(unet)}|{shape}|{versions()}".encode(), digest_size=10
    ).hexdigest()
    return settings().cache_dir / "diffusion-unet" / key


def _wrapper(unet: Any, deep: bool) -> Any:
    import torch

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: Any, timestep: Any, states: Any) -> Any:
            with deep_features(self.unet) as seen:
                out = self.unet(sample, timestep, encoder_hidden_states=states, return_dict=False)
            return (out[0], seen[0]) if deep else out[0]

    return Forward().eval()


@contextlib.contextmanager
def deep_features(unet: Any) -> Iterator[list[Any]]:
    """Within the block, each UNet call appends to the yielded list the deep features its last
    layer reads beside ``conv_in``'s skip connection: the input of the last up block's final
    resnet without the skip's channels. DeepCache's cached steps start from them."""
    skip = int(unet.config.block_out_channels[0])  # conv_in's output channels
    seen: list[Any] = []

    def keep(module: Any, args: tuple[Any, ...]) -> None:
        seen.append(args[0][:, :-skip])  # the block concatenates [deep, skip] on channels

    handle = unet.up_blocks[-1].resnets[-1].register_forward_pre_hook(keep)
    try:
        yield seen
    finally:
        handle.remove()


def export(unet: Any, shape: Shape, folder: Path) -> None:
    """Export ``unet`` at ``shape`` to ``folder/unet.onnx`` (weights in one external file)."""
    import torch

    args = (
        torch.randn(shape.sample()),
        torch.tensor([500.0]),
        torch.randn(shape.states()),
    )
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _wrapper(unet, shape.deep),
            args,
            str(folder / MODEL_FILE),
            input_names=["sample", "timestep", "states"],
            output_names=["noise", "deep"] if shape.deep else ["noise"],
            opset_version=OPSET,
            dynamo=False,
        )
    EXPORTS.append(folder)


Compiled = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def compile_export(path: Path, threads: int) -> Compiled:
    """The export at ``path`` compiled for the CPU by :func:`runtime` on ``threads`` threads:
    a function from the input arrays to the outputs."""
    if runtime() == "openvino":
        return _openvino(path, threads)
    return _onnxruntime(path, threads)


def _openvino(path: Path, threads: int) -> Compiled:
    """OpenVINO on the CPU in fp32 (never bf16 on this CPU), one stream, latency first."""
    import openvino as ov

    core = ov.Core()
    config = {
        "INFERENCE_NUM_THREADS": str(threads),
        "NUM_STREAMS": "1",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    request = core.compile_model(core.read_model(str(path)), "CPU", config).create_infer_request()

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        # The request reuses its output buffers on the next call: copy them out.
        outputs = request.infer(feeds)
        return [np.array(outputs[i], dtype=np.float32, copy=True) for i in range(len(outputs))]

    return run


def _onnxruntime(path: Path, threads: int) -> Compiled:
    """An ONNX Runtime CPU session on ``threads`` intra-op threads, graph fully optimised."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


class OnnxUNet:
    """One exported UNet: ``run(sample, timestep, states)`` -> noise prediction (numpy)."""

    def __init__(self, folder: Path, shape: Shape, parity: float, threads: int) -> None:
        self.folder, self.shape, self.parity = folder, shape, parity
        self._run = compile_export(folder / MODEL_FILE, threads)
        self._lock = threading.Lock()

    def run(self, sample: np.ndarray, timestep: float, states: np.ndarray) -> np.ndarray:
        """The noise prediction."""
        return self.outputs(sample, timestep, states)[0]

    def outputs(self, sample: np.ndarray, timestep: float, states: np.ndarray) -> list[np.ndarray]:
        """The noise prediction, then the deep features where the export has them."""
        feeds = {
            "sample": np.ascontiguousarray(sample, dtype=np.float32),
            "timestep": np.array([timestep], dtype=np.float32),
            "states": np.ascontiguousarray(states, dtype=np.float32),
        }
        with self._lock:
            return self._run(feeds)


def parity(unet: Any, runner: OnnxUNet) -> float:
    """The cosine of the export's noise prediction with PyTorch's on seeded sample inputs
    (the lower of it and the deep features' cosine, for a ``deep`` export)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(runner.shape.sample(), generator=generator)
    states = torch.randn(runner.shape.states(), generator=generator)
    with torch.inference_mode(), deep_features(unet) as seen:
        expected = [unet(sample, 481, encoder_hidden_states=states, return_dict=False)[0]]
    if runner.shape.deep:
        expected.append(seen[0])
    got = runner.outputs(sample.numpy(), 481.0, states.numpy())
    return min(cosine(want.numpy(), have) for want, have in zip(expected, got, strict=True))


Exporter = Callable[[Any, Shape, Path], None]


@dataclass(frozen=True)
class Fallback:
    """An export that cannot be used, and the sentence saying why (PyTorch runs instead)."""

    reason: str


def prepare(
    unet: Any,
    shape: Shape,
    *,
    threads: int,
    on_compile: Callable[[], None] = lambda: None,
    exporter: Exporter | None = None,
) -> OnnxUNet | Fallback:
    """The export of ``unet`` at ``shape`` (made once, then read from the cache), or the
    :class:`Fallback` to PyTorch when it does not match PyTorch or could not be made."""
    folder = export_dir(unet, shape)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        on_compile()
        _make(unet, shape, folder, threads, exporter or export)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not meta["ok"]:
        return Fallback(
            f"The compiled UNet ({runtime()}) does not match PyTorch ({meta['reason']}); "
            "using PyTorch eager instead."
        )
    return OnnxUNet(folder, shape, float(meta["cosine"]), threads)


def _make(unet: Any, shape: Shape, folder: Path, threads: int, exporter: Exporter) -> None:
    """Export into a fresh folder beside ``folder``, check it, then move it into place whole,
    so a crash or a concurrent process never leaves a half-written export under the key."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        log.warning("Compiling the UNet for %s at %s (once per model and size).", runtime(), shape)
        try:
            exporter(unet, shape, work)
            measured = parity(unet, OnnxUNet(work, shape, 0.0, threads))
            meta = {"ok": measured >= PARITY_MIN, "cosine": measured}
            meta["reason"] = "" if meta["ok"] else f"cosine {measured:.5f} < {PARITY_MIN}"
        except Exception as exc:  # an exporter bug must not stop generation
            for child in work.iterdir():
                child.unlink()
            reason = f"export failed: {type(exc).__name__}: {str(exc)[:200]}"
            meta = {"ok": False, "cosine": None, "reason": reason}
        meta |= {"shape": vars(shape), "versions": versions(), "weights": weights_digest(unet)}
        write_atomic(work / "meta.json", json.dumps(meta, indent=2))
        with contextlib.suppress(OSError):  # another process finished first: keep theirs
            os.rename(work, folder)
            _remove_superseded(folder, meta)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _remove_superseded(folder: Path, meta: dict[str, Any]) -> None:
    """Delete the exports this one replaces: the same weights and shape made under other
    library versions (an upgrade re-exports, and each export is gigabytes)."""
    for other in folder.parent.iterdir():
        if other == folder or other.name.startswith("."):
            continue
        try:
            old = json.loads((other / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same = old.get("weights") == meta["weights"] and old.get("shape") == meta["shape"]
        if same and old.get("versions") != meta["versions"]:
            log.info("Removing the UNet export %s, made under %s.", other.name, old["versions"])
            shutil.rmtree(other, ignore_errors=True)


def _timestep(value: Any) -> float | None:
    import torch

    if torch.is_tensor(value):
        return float(value.reshape(-1)[0]) if value.numel() >= 1 else None
    return float(value)


def _matches(runner: OnnxUNet, sample: Any, states: Any, kwargs: dict[str, Any]) -> bool:
    extra = {k: v for k, v in kwargs.items() if v is not None and k != "return_dict"}
    return (
        not extra
        and tuple(sample.shape) == runner.shape.sample()
        and states is not None
        and tuple(states.shape) == runner.shape.states()
    )


def _hook(runner: OnnxUNet, compute: Callable[..., Any]) -> Any:
    """A hook for the UNet: calls that match the export return ``compute(module, sample,
    timestep, states)`` as the UNet's output; any other call (another shape, ControlNet
    residuals, extra conditioning) runs in PyTorch."""
    from diffusers.hooks import ModelHook
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

    class Run(ModelHook):
        def new_forward(self, module: Any, sample: Any, timestep: Any, *args: Any, **kw: Any):
            states = args[0] if args else kw.pop("encoder_hidden_states", None)
            if args[1:] or not _matches(runner, sample, states, kw):
                if not args:
                    kw["encoder_hidden_states"] = states
                return self.fn_ref.original_forward(sample, timestep, *args, **kw)
            out = compute(module, sample, timestep, states)
            return (out,) if kw.get("return_dict") is False else UNet2DConditionOutput(out)

    return Run()


@contextlib.contextmanager
def _hooked(unet: Any, hook: Any) -> Iterator[None]:
    from diffusers.hooks import HookRegistry

    registry = HookRegistry.check_if_exists_or_initialize(unet)
    registry.register_hook(hook, HOOK)
    try:
        yield
    finally:
        registry.remove_hook(HOOK, recurse=False)


@contextlib.contextmanager
def onnx_unet(unet: Any, runner: OnnxUNet) -> Iterator[None]:
    """Within the block, ``unet``'s calls that match the export run compiled; any
    other call (another shape, ControlNet residuals, extra conditioning) runs in PyTorch."""
    import torch

    def compute(module: Any, sample: Any, timestep: Any, states: Any) -> Any:
        noise = runner.run(sample.numpy(), _timestep(timestep), states.numpy())
        return torch.from_numpy(noise).to(sample.dtype)

    with _hooked(unet, _hook(runner, compute)):
        yield


@contextlib.contextmanager
def compiled_deepcache(unet: Any, runner: OnnxUNet, interval: int) -> Iterator[Any]:
    """DeepCache with its full steps compiled: within the block, one UNet call in ``interval``
    (the first included) runs the ``deep`` export, which also returns the deep features; the
    calls between run :func:`~polymodal.diffusion.backends.deepcache.shallow_step` in
    PyTorch from them. Calls the export does not match run in PyTorch, uncached."""
    import torch

    from polymodal.diffusion.backends.deepcache import Schedule, shallow_step

    schedule = Schedule(interval)
    cached: list[Any] = []  # the last full step's deep features

    def compute(module: Any, sample: Any, timestep: Any, states: Any) -> Any:
        schedule.calls += 1
        if schedule.reuse and cached:
            return shallow_step(module, sample, timestep, states, cached[0])
        schedule.full_steps += 1
        noise, deep = runner.outputs(sample.numpy(), _timestep(timestep), states.numpy())
        cached[:] = [torch.from_numpy(deep).to(sample.dtype)]
        return torch.from_numpy(noise).to(sample.dtype)

    with _hooked(unet, _hook(runner, compute)):
        yield schedule
