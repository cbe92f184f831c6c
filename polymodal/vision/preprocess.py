"""CLIP image preprocessing in numpy and PIL, matching ``CLIPImageProcessor`` to float precision.

Why not the transformers processor: it converts every image to a channels-first numpy array,
back to PIL to resize, and normalises in float64, which costs more than the model on a CPU for
large photos; and its fast backend needs torchvision, which we do not install. The steps and
their rounding here are the processor's (shortest edge with ``int()``, bicubic, center crop with
``//2``, rescale then normalise), read from the checkpoint's processor file (see
:meth:`ClipPreprocessor.from_pretrained`), and a test holds them equal to the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from polymodal.media.image import to_rgb

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _edge(value: object, key: str, default: int) -> int:
    if isinstance(value, dict):
        return int(value.get(key) or value.get("height") or default)
    return int(value) if value else default


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _processor_config(directory: Path) -> dict:
    """The image processor's settings from either file transformers writes (empty if none)."""
    legacy = _read_json(directory / "preprocessor_config.json")
    if legacy:
        return legacy.get("image_processor", legacy)
    nested = _read_json(directory / "processor_config.json")
    return nested.get("image_processor", nested)


def _model_image_size(directory: Path) -> int:
    """The vision tower's input side from ``config.json`` (224, OpenAI's, when not stated)."""
    vision = _read_json(directory / "config.json").get("vision_config") or {}
    return int(vision.get("image_size") or 224)


@dataclass(frozen=True)
class ClipPreprocessor:
    """Resize the short side to ``size``, center-crop to ``crop``, scale, normalise; CHW float32."""

    size: int = 224
    crop_height: int = 224
    crop_width: int = 224
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    resample: int = Image.Resampling.BICUBIC
    rescale_factor: float = 1 / 255
    do_resize: bool = True
    do_center_crop: bool = True

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ClipPreprocessor:
        """The checkpoint's preprocessing, from the first of these that says it:

        * ``preprocessor_config.json`` (transformers 4 and most checkpoints on the hub);
        * ``processor_config.json`` with the image processor nested under ``image_processor``
          (what transformers 5's ``CLIPProcessor.save_pretrained`` writes);
        * the model's own input side, ``vision_config.image_size`` in ``config.json``, with
          OpenAI's mean and std: a checkpoint without a processor file still gets the size its
          model needs (``clip-vit-large-patch14-336`` wants 336, not 224).
        """
        config = _processor_config(Path(directory))
        fallback = _model_image_size(Path(directory))
        size = _edge(config.get("size"), "shortest_edge", fallback)
        crop = config.get("crop_size", size)
        crop_height = _edge(crop, "height", size)
        crop_width = (
            int(crop.get("width") or crop_height) if isinstance(crop, dict) else crop_height
        )
        return cls(
            size=size,
            crop_height=crop_height,
            crop_width=crop_width,
            mean=tuple(config.get("image_mean", OPENAI_CLIP_MEAN)),  # type: ignore[arg-type]
            std=tuple(config.get("image_std", OPENAI_CLIP_STD)),  # type: ignore[arg-type]
            resample=int(config.get("resample", Image.Resampling.BICUBIC)),
            rescale_factor=float(config.get("rescale_factor", 1 / 255)),
            do_resize=bool(config.get("do_resize", True)),
            do_center_crop=bool(config.get("do_center_crop", True)),
        )

    @property
    def min_side(self) -> int:
        """The fewest pixels the short side needs before resizing: a decoder may stop there."""
        return max(self.size, self.crop_height, self.crop_width)

    def resized(self, image: Image.Image) -> np.ndarray:
        """The resized and cropped pixels, HWC uint8 (cheap to hand between threads)."""
        image = to_rgb(image)
        if self.do_resize:
            width, height = image.size
            short, long = (width, height) if width <= height else (height, width)
            new_short, new_long = self.size, int(self.size * long / short)
            new_size = (new_short, new_long) if width <= height else (new_long, new_short)
            if new_size != image.size:
                image = image.resize(new_size, resample=self.resample)
        array = np.asarray(image)
        if self.do_center_crop:
            array = _center_crop(array, self.crop_height, self.crop_width)
        return array

    def normalise(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 to the model's (N, 3, H, W) float32 input."""
        scale = np.float32(self.rescale_factor) / np.asarray(self.std, dtype=np.float32)
        shift = np.asarray(self.mean, dtype=np.float32) / np.asarray(self.std, dtype=np.float32)
        out = batch.astype(np.float32) * scale - shift
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def __call__(self, images: list[Image.Image] | tuple[Image.Image, ...]) -> np.ndarray:
        """Preprocess a batch of PIL images to (N, 3, crop_height, crop_width) float32."""
        return self.normalise(np.stack([self.resized(image) for image in images]))


def _center_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Center crop as transformers does, zero-padding an image smaller than the crop."""
    rows, cols = array.shape[:2]
    if rows < height or cols < width:
        padded = np.zeros((max(rows, height), max(cols, width), 3), dtype=array.dtype)
        top, left = -(-(padded.shape[0] - rows) // 2), -(-(padded.shape[1] - cols) // 2)
        padded[top : top + rows, left : left + cols] = array
        array, rows, cols = padded, padded.shape[0], padded.shape[1]
    top, left = (rows - height) // 2, (cols - width) // 2
    return array[top : top + height, left : left + width]
