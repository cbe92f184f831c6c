"""The CLIP encoder: images and texts in, L2-normalised float32 embeddings out, on any backend.

One object, :class:`ClipEncoder`, hides which engine runs the towers: PyTorch eager (any
device) or ONNX Runtime on the CPU (about 1.5x faster at batch 1, and 2x with int8 dynamic
quantisation). The ONNX files are exported once per checkpoint and checked against PyTorch
before they are trusted (see :mod:`polymodal.vision.backends.onnx`). Callers get models only
through ``polymodal.catalog.load(name, "clip")``, which calls :func:`load_clip` here.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from polymodal import catalog
from polymodal.catalog import ResolvedModel
from polymodal.config import pick_device, settings
from polymodal.errors import BadInputError, DependencyMissingError, ModelUnavailableError
from polymodal.vectors import unit_rows
from polymodal.vision.backends.torch import TorchClip, fingerprint
from polymodal.vision.preprocess import ClipPreprocessor

log = logging.getLogger(__name__)

ImageTower = Callable[[np.ndarray], np.ndarray]
TextTower = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Images per forward pass inside ``encode_images``: bounds memory for long lists.
CHUNK = 32


class ClipEncoder:
    """A loaded CLIP model. Thread-safe for concurrent ``encode_*`` calls on the ONNX backend.

    Attributes a caller may rely on: ``lanes`` (how many ``encode_pixels_one_core`` calls
    to run at once), ``model_id`` (stable cache key; differs for int8),
    ``dim`` (embedding size), ``image_size`` (model input side), ``logit_scale`` (already
    exponentiated, multiply cosine similarities by it before a softmax), ``backend``
    (``"onnx"``, ``"onnx-int8"`` or ``"torch"``), ``device`` and ``parity`` (the ONNX
    towers' worst cosine similarity to PyTorch fp32 on sample inputs; ``None`` for torch).
    """

    def __init__(
        self,
        *,
        model_id: str,
        dim: int,
        logit_scale: float,
        preprocessor: ClipPreprocessor,
        tokenizer: Any,
        image_tower: ImageTower,
        text_tower: TextTower,
        backend: str,
        device: str,
        context_length: int = 77,
        parity: dict[str, float] | None = None,
        one_core_image_tower: ImageTower | None = None,
        lanes: int = 1,
    ) -> None:
        self.model_id = model_id
        self.dim = dim
        self.image_size = preprocessor.crop_height
        self.logit_scale = logit_scale
        self.preprocessor = preprocessor
        self.tokenizer = tokenizer
        self.backend = backend
        self.device = device
        self.context_length = context_length
        self.parity = parity
        self._image_tower = image_tower
        self._text_tower = text_tower
        self._one_core_image_tower = one_core_image_tower or image_tower
        self.lanes = lanes if one_core_image_tower is not None else 1

    def __repr__(self) -> str:
        return f"ClipEncoder({self.model_id!r}, backend={self.backend!r}, device={self.device!r})"

    @property
    def min_side(self) -> int:
        """Pixels the short side of an image needs before preprocessing (for draft decoding)."""
        return self.preprocessor.min_side

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images to the model's (N, 3, H, W) float32 input."""
        return self.preprocessor(list(images))

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Preprocessed (N, 3, H, W) pixels to (N, dim) L2-normalised embeddings."""
        return self._run_image_tower(self._image_tower, pixels)

    def encode_pixels_one_core(self, pixels: np.ndarray) -> np.ndarray:
        """Like :meth:`encode_pixels` on the calling thread's core only.

        For bulk work: ``lanes`` such calls at once use every core without the threads of one
        call waiting on cores busy decoding images, which measured 7-10 % faster end to end on
        camera photos (2 cores). Backends without a one-core path run ``encode_pixels``.
        """
        return self._run_image_tower(self._one_core_image_tower, pixels)

    def _run_image_tower(self, tower: ImageTower, pixels: np.ndarray) -> np.ndarray:
        """``tower`` over ``pixels`` in chunks of ``CHUNK`` (bounded memory), normalised."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        parts = [tower(pixels[i : i + CHUNK]) for i in range(0, len(pixels), CHUNK)]
        return unit_rows(np.concatenate(parts))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images (any mode) to (N, dim) float32 L2-normalised embeddings."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self.encode_pixels(self.preprocess(images[i : i + CHUNK]))
            for i in range(0, len(images), CHUNK)
        ]
        return np.concatenate(parts)

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask (int64), padded to the batch's longest, truncated."""
        encoded = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.context_length,
            return_tensors="np",
        )
        return (
            encoded["input_ids"].astype(np.int64),
            encoded["attention_mask"].astype(np.int64),
        )

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts to (N, dim) float32 L2-normalised embeddings (long texts are truncated)."""
        if isinstance(texts, str):
            raise BadInputError(
                "encode_texts takes a list of texts, not a single string.", param="texts"
            )
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for i in range(0, len(texts), CHUNK):
            ids, mask = self.tokenize(texts[i : i + CHUNK])
            parts.append(self._text_tower(ids, mask))
        return unit_rows(np.concatenate(parts))


#: A CLIP model as every task takes it: a catalogue name, a local checkpoint folder, an
#: already loaded :class:`ClipEncoder` (or an object with its ``encode_*`` methods), or
#: ``None`` for the configured default.
ModelRef = str | os.PathLike[str] | ClipEncoder | Any | None


def get_encoder(model: ModelRef = None, int8: bool | None = None) -> ClipEncoder:
    """The shared CLIP encoder for ``model`` (default from settings) via the catalogue.

    A loaded encoder is returned as it is, so every task takes a model object as well as a
    name (tests pass a stand-in; a server passes the encoder it holds). ``int8=None`` follows
    ``POLYMODAL_INT8``; it only matters when a name is given.
    """
    if model is not None and not isinstance(model, str | os.PathLike):
        return model
    use_int8 = settings().int8 if int8 is None else int8
    options: dict[str, Any] = {"int8": True} if use_int8 else {}
    return catalog.load(model, "clip", **options)


# --- loading ----------------------------------------------------------------------------------


def model_id_for(resolved: ResolvedModel, int8: bool) -> str:
    """Catalogue name, or ``local:<dir>@<fingerprint>``, plus ``+int8`` for the int8 path."""
    is_local = resolved.spec.description == "local model"
    base = f"local:{resolved.path}@{fingerprint(resolved.path)}" if is_local else resolved.spec.name
    return base + ("+int8" if int8 else "")


def _check_checkpoint(resolved: ResolvedModel) -> None:
    path = resolved.path
    if (path / "open_clip_config.json").exists() or str(resolved.spec.source).startswith(
        "open_clip:"
    ):
        import importlib.util

        if importlib.util.find_spec("open_clip") is None:
            raise DependencyMissingError(
                f"'{resolved.spec.name}' is an OpenCLIP model: install it with "
                "pip install open_clip_torch."
            )
        raise ModelUnavailableError(
            f"OpenCLIP checkpoints ('{resolved.spec.name}') are not supported yet; "
            "use a transformers CLIP checkpoint."
        )
    config = path / "config.json"
    if not config.exists():
        raise ModelUnavailableError(f"'{path}' is not a CLIP checkpoint (no config.json).")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type != "clip":
        raise ModelUnavailableError(
            f"'{path}' holds a '{model_type}' model, not a CLIP model (model_type 'clip')."
        )


def load_clip(
    resolved: ResolvedModel, *, device: str = "auto", backend: str = "auto", int8: bool = False
) -> ClipEncoder:
    """The catalogue's loader for family ``clip``: a :class:`ClipEncoder` for ``resolved``.

    ``backend``: ``"auto"`` (ONNX Runtime on a CPU, exported on first use and checked for
    parity, else PyTorch), ``"onnx"`` or ``"torch"``. ``int8``: ONNX Runtime with dynamic int8
    quantisation of the matrix multiplications (CPU only; its own ``model_id``).
    """
    from transformers import AutoTokenizer

    _check_checkpoint(resolved)
    device = pick_device(device)
    backend = backend.lower()
    if backend not in {"auto", "onnx", "torch"}:
        raise BadInputError(
            f"Unknown CLIP backend '{backend}': use auto, onnx or torch.", param="backend"
        )
    if int8 and backend == "torch":
        raise BadInputError(
            "int8 runs on the ONNX backend; use backend 'onnx' or 'auto'.", param="int8"
        )
    preprocessor = ClipPreprocessor.from_pretrained(resolved.path)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    torch_clip = TorchClip(resolved.path, "cpu" if int8 else device)
    model_id = model_id_for(resolved, int8)
    common = {"preprocessor": preprocessor, "tokenizer": tokenizer, "model_id": model_id}
    want_onnx = int8 or backend == "onnx" or (backend == "auto" and device == "cpu")
    if want_onnx:
        from polymodal.vision.backends import onnx

        prepared = onnx.prepare(resolved, torch_clip, preprocessor, tokenizer, int8=int8)
        if prepared is not None:
            return ClipEncoder(
                dim=prepared.dim,
                logit_scale=prepared.logit_scale,
                image_tower=prepared.image_features,
                text_tower=prepared.text_features,
                one_core_image_tower=prepared.image_features_one_core,
                lanes=prepared.lanes,
                backend="onnx-int8" if int8 else "onnx",
                device="cpu",
                parity=prepared.parity,
                **common,
            )
        if int8 or backend == "onnx":
            raise ModelUnavailableError(
                f"The ONNX export of '{resolved.spec.name}' failed its parity check; "
                "use the default backend."
            )
    facts = torch_clip.facts()
    return ClipEncoder(
        dim=int(facts["dim"]),
        logit_scale=facts["logit_scale"],
        image_tower=torch_clip.image_features,
        text_tower=torch_clip.text_features,
        backend="torch",
        device=torch_clip.device,
        **common,
    )
