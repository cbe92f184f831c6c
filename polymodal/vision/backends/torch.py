"""PyTorch eager for the CLIP towers, and the checkpoint fingerprint both backends key on.

The model is loaded on first use: an ONNX user whose export is already on disk never pays for
the PyTorch weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.errors import ModelUnavailableError


def fingerprint(directory: Path) -> str:
    """A short digest of a checkpoint's config and weight files (name, size, mtime)."""
    digest = hashlib.blake2b(digest_size=8)
    config = directory / "config.json"
    digest.update(config.read_bytes() if config.exists() else b"")
    for path in sorted(directory.glob("*")):
        if path.suffix in {".safetensors", ".bin", ".pt"}:
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class TorchClip:
    """The PyTorch CLIP towers, loaded on first use (ONNX users may never need them)."""

    def __init__(self, path: Path, device: str) -> None:
        self.path = path
        self.device = device
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            from transformers import CLIPModel

            try:
                model = CLIPModel.from_pretrained(self.path, dtype=torch.float32)
            except Exception as exc:
                raise ModelUnavailableError(
                    f"Could not load the CLIP model in '{self.path}': {exc}"
                ) from exc
            self._model = model.to(self.device).eval()
        return self._model

    def image_features(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(pixels).to(self.device)
            output = self.model.get_image_features(pixel_values=tensor).pooler_output
            return output.float().cpu().numpy()

    def text_features(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            output = self.model.get_text_features(
                input_ids=torch.from_numpy(ids).to(self.device),
                attention_mask=torch.from_numpy(mask).to(self.device),
            ).pooler_output
            return output.float().cpu().numpy()

    def facts(self) -> dict[str, float]:
        """Embedding size and exponentiated logit scale."""
        return {
            "dim": int(self.model.config.projection_dim),
            "logit_scale": float(self.model.logit_scale.exp().item()),
        }
