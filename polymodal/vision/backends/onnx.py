"""ONNX Runtime for the CLIP towers: export once, check parity, quantise on request, run fast.

Why: on a laptop CPU ONNX Runtime runs CLIP about 1.5x faster than PyTorch eager at batch 1,
and its dynamic int8 quantisation of the matrix multiplications about 2x (quantising the patch
convolution is slower, so only MatMul/Gemm are quantised). The export happens once per
checkpoint (fingerprinted by config and weight files) and is stored beside the model, or under
the cache directory when the model's folder is read-only. An export is trusted only after its
outputs match PyTorch on sample inputs (cosine >= 0.999); otherwise the verdict is remembered and
the encoder falls back to PyTorch with a warning, so a bad exporter never silently changes
embeddings.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.catalog import ResolvedModel
from polymodal.config import settings
from polymodal.media.files import atomic_path, write_atomic
from polymodal.vectors import unit_rows
from polymodal.vision.backends.torch import TorchClip, fingerprint
from polymodal.vision.preprocess import ClipPreprocessor

log = logging.getLogger(__name__)

PARITY_MIN = 0.999
INT8_WARN_BELOW = 0.99
OPSET = 17
#: Let ONNX Runtime's threads busy-wait between operators. Off: spinning saves little on an idle
#: CPU but steals the cores our decoder threads (and other programs) need; measured faster off
#: end to end on a busy 2-core machine.
SPIN = False
_SAMPLE_TEXTS = ["a photo of a cat", "a red car parked on a street at night", "dog"]


class OnnxClip:
    """The two ONNX towers and the model facts needed without loading PyTorch.

    Sessions are opened on first use, one per (tower, thread count): ``image_features`` runs
    on every core for the lowest latency of one call; ``image_features_one_core`` runs on the
    calling thread only, for callers that run several batches at once (see ``lanes``). Both are
    safe to call from many threads.
    """

    def __init__(
        self, folder: Path, suffix: str, dim: int, logit_scale: float, parity: dict[str, float]
    ) -> None:
        self.folder = folder
        self.suffix = suffix
        self.dim = dim
        self.logit_scale = logit_scale
        self.parity = parity
        self._sessions: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    @property
    def lanes(self) -> int:
        """How many one-core batches to run at once to use every core."""
        return _threads()

    def _session(self, tower: str, threads: int) -> Any:
        key = (tower, threads)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = session(self.folder / f"{tower}{self.suffix}.onnx", threads)
            return self._sessions[key]

    def image_features(self, pixels: np.ndarray) -> np.ndarray:
        return self._session("image", _threads()).run(None, {"pixel_values": pixels})[0]

    def image_features_one_core(self, pixels: np.ndarray) -> np.ndarray:
        return self._session("image", 1).run(None, {"pixel_values": pixels})[0]

    def text_features(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inputs = {"input_ids": ids, "attention_mask": mask}
        return self._session("text", _threads()).run(None, inputs)[0]


def export_dir(resolved: ResolvedModel) -> Path:
    """Where this checkpoint's ONNX files live: beside the model if writable, else the cache."""
    tag = fingerprint(resolved.path)
    beside = resolved.path / "polymodal-onnx" / tag
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", resolved.spec.name)
    cached = settings().cache_dir / "onnx" / safe / tag
    for candidate in (beside, cached):
        if (candidate / "meta.json").exists():
            return candidate
    return beside if os.access(resolved.path, os.W_OK) else cached


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One exporter per directory across processes (POSIX advisory lock; no-op elsewhere)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            pass
        yield


def _threads() -> int:
    return settings().threads or max(1, os.cpu_count() or 1)


def session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session; intra-op threads default to ``POLYMODAL_THREADS`` or cores."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if SPIN else "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _sample_inputs(
    preprocessor: ClipPreprocessor, tokenizer: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from PIL import Image

    rng = np.random.default_rng(0)
    side = preprocessor.min_side + 32
    gradient = np.linspace(0, 255, side * side * 3).reshape(side, side, 3).astype(np.uint8)
    noise = rng.integers(0, 256, (side, side + 17, 3), dtype=np.uint8)
    images = [Image.fromarray(gradient), Image.fromarray(noise), Image.fromarray(noise[::-1])]
    pixels = preprocessor(images)
    encoded = tokenizer(_SAMPLE_TEXTS, padding=True, return_tensors="np")
    return pixels, encoded["input_ids"].astype(np.int64), encoded["attention_mask"].astype(np.int64)


def _export(torch_clip: TorchClip, out: Path, sample: tuple[np.ndarray, ...]) -> None:
    """Export both towers to ``image.onnx`` and ``text.onnx`` (dynamic batch and length)."""
    import torch

    class Image_(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    class Text_(Image_):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model.get_text_features(
                input_ids=input_ids, attention_mask=attention_mask
            ).pooler_output

    model = torch_clip.model
    pixels, ids, mask = (torch.from_numpy(a) for a in sample)
    jobs = [
        (Image_(model), (pixels,), ["pixel_values"], {"pixel_values": {0: "batch"}}, "image.onnx"),
        (
            Text_(model),
            (ids, mask),
            ["input_ids", "attention_mask"],
            {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}},
            "text.onnx",
        ),
    ]
    for module, args, names, axes, filename in jobs:
        with atomic_path(out / filename) as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                args,
                str(tmp),
                input_names=names,
                output_names=["embeddings"],
                dynamic_axes={**axes, "embeddings": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )


def _not_from_quantiser(record: logging.LogRecord) -> bool:
    """ONNX Runtime's quantiser logs advice on the root logger; it is not for our users."""
    return "onnxruntime" not in record.pathname


def _quantise(out: Path) -> None:
    """Dynamic int8 on MatMul/Gemm only (int8 convolutions are slower on CPUs)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_not_from_quantiser)
    try:
        for name in ("image", "text"):
            with atomic_path(out / f"{name}.int8.onnx") as tmp:
                quantize_dynamic(
                    out / f"{name}.onnx",
                    tmp,
                    op_types_to_quantize=["MatMul", "Gemm"],
                    weight_type=QuantType.QInt8,
                )
    finally:
        root.removeFilter(_not_from_quantiser)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The worst row-wise cosine similarity between two batches of vectors."""
    return float(np.min(np.sum(unit_rows(a) * unit_rows(b), axis=1)))


def _measure(out: Path, suffix: str, torch_clip: TorchClip, sample: tuple) -> dict[str, float]:
    pixels, ids, mask = sample
    onnx = OnnxClip(out, suffix, 0, 0, {})
    return {
        "image_cosine": min_cosine(onnx.image_features(pixels), torch_clip.image_features(pixels)),
        "text_cosine": min_cosine(
            onnx.text_features(ids, mask), torch_clip.text_features(ids, mask)
        ),
    }


def _prepare_files(out: Path, torch_clip: TorchClip, sample: tuple, int8: bool) -> dict[str, Any]:
    """Export, quantise and measure what is missing; return the meta record."""
    meta_path = out / "meta.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if "fp32" not in meta:
        log.info("Exporting CLIP towers to ONNX in %s (once per model).", out)
        _export(torch_clip, out, sample)
        parity = _measure(out, "", torch_clip, sample)
        parity["ok"] = min(parity.values()) >= PARITY_MIN
        meta = {**torch_clip.facts(), "fp32": parity}
    if int8 and meta["fp32"]["ok"] and "int8" not in meta:
        log.info("Quantising the ONNX CLIP towers to int8 in %s (once per model).", out)
        _quantise(out)
        meta["int8"] = _measure(out, ".int8", torch_clip, sample)
    write_atomic(meta_path, json.dumps(meta, indent=2))
    return meta


def prepare(
    resolved: ResolvedModel,
    torch_clip: TorchClip,
    preprocessor: ClipPreprocessor,
    tokenizer: Any,
    *,
    int8: bool = False,
) -> OnnxClip | None:
    """ONNX sessions for ``resolved`` (exporting once), or ``None`` to fall back to PyTorch.

    Returns ``None`` with a warning when the export does not match PyTorch (cosine < 0.999) or
    fails outright; the verdict is stored so the next load does not retry.
    """
    out = export_dir(resolved)
    with _locked(out):
        meta_path = out / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        needs = "fp32" not in meta or (int8 and meta["fp32"]["ok"] and "int8" not in meta)
        if needs:
            sample = _sample_inputs(preprocessor, tokenizer)
            try:
                meta = _prepare_files(out, torch_clip, sample, int8)
            except Exception as exc:  # an exporter bug must not stop embedding
                warnings.warn(
                    f"Exporting '{resolved.spec.name}' to ONNX failed ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); using PyTorch instead.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return None
    if not meta["fp32"]["ok"]:
        warnings.warn(
            f"The ONNX export of '{resolved.spec.name}' does not match PyTorch "
            f"(cosine {min(meta['fp32']['image_cosine'], meta['fp32']['text_cosine']):.4f} "
            f"< {PARITY_MIN}); using PyTorch instead.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    suffix = ".int8" if int8 else ""
    parity = meta["int8"] if int8 else meta["fp32"]
    if int8 and min(parity["image_cosine"], parity["text_cosine"]) < INT8_WARN_BELOW:
        log.warning("int8 CLIP parity with fp32 is low: %s", parity)
    return OnnxClip(
        out,
        suffix,
        int(meta["dim"]),
        float(meta["logit_scale"]),
        {k: float(v) for k, v in parity.items()},
    )
