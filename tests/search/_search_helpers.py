"""Helpers for the search tests: drawings, EXIF bytes, and a stand-in CLIP with chosen vectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def exif_bytes(taken: datetime, make: str, model: str) -> bytes:
    exif = Image.Exif()
    exif[271], exif[272] = make, model
    exif.get_ifd(0x8769)[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")
    return exif.tobytes()


def drawing(path: Path, colour: str, shape: str = "ellipse", size=(320, 240)) -> Path:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    box = (size[0] // 5, size[1] // 5, 4 * size[0] // 5, 4 * size[1] // 5)
    getattr(draw, shape)(box, fill=colour)
    image.save(path)
    return path


@dataclass
class ChosenVectors:
    """A stand-in CLIP whose vectors a test chooses: an image's vector by its dominant colour,
    a text's from ``texts`` (neutral captions get ``neutral``)."""

    colours: dict[str, np.ndarray]
    texts: dict[str, np.ndarray]
    neutral: np.ndarray
    model_id: str = "chosen-vectors"
    logit_scale: float = 100.0
    image_size: int = 224

    @property
    def dim(self) -> int:
        return len(self.neutral)

    def encode_images(self, images):
        return np.stack([self.colours[_dominant(image)] for image in images])

    def encode_texts(self, texts):
        from polymodal.search.relevance import NEUTRAL_CAPTIONS

        return np.stack(
            [self.neutral if t in NEUTRAL_CAPTIONS else self.texts[t] for t in texts]
        ).astype(np.float32)


def _dominant(image) -> str:
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    coloured = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 60]
    channel = int(np.bincount(coloured.argmax(axis=1), minlength=3).argmax())
    return ("red", "green", "blue")[channel]
