"""Search fixtures: a tiny random CLIP on disk, a folder of photos and drawings, an isolated
home, and a stand-in encoder whose vectors a test chooses (for honest-relevance cases)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from _search_helpers import drawing, exif_bytes
from PIL import Image


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    from polymodal.vision.synthetic import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("tiny-clip"), tiny=True, seed=0)


@pytest.fixture(scope="session")
def other_clip_dir(tmp_path_factory) -> Path:
    """A second tiny CLIP (different weights): a different model to a collection."""
    from polymodal.vision.synthetic import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("other-clip"), tiny=True, seed=1)


@pytest.fixture(autouse=True)
def polymodal_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("POLYMODAL_HOME", str(home))
    monkeypatch.delenv("POLYMODAL_INT8", raising=False)
    return home


@pytest.fixture(scope="session")
def photo_source(tmp_path_factory) -> Path:
    """scikit-image's photos (two with EXIF capture time and camera) plus Pillow drawings."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photo-source")
    (folder / "trip").mkdir()
    Image.fromarray(data.astronaut()).save(
        folder / "astronaut.jpg",
        quality=90,
        exif=exif_bytes(datetime(2021, 6, 1, 12, 0), "Canon", "EOS 5D"),
    )
    Image.fromarray(data.coffee()).save(
        folder / "trip" / "coffee.jpg",
        quality=90,
        exif=exif_bytes(datetime(2024, 3, 5, 9, 30), "NIKON CORPORATION", "D750"),
    )
    Image.fromarray(data.chelsea()).save(folder / "trip" / "chelsea.png")
    Image.fromarray(data.rocket()).save(folder / "rocket.png")
    drawing(folder / "red.png", "red", size=(1200, 800))
    drawing(folder / "trip" / "blue.png", "blue", "rectangle")
    return folder


@pytest.fixture
def photo_dir(photo_source, tmp_path) -> Path:
    """A fresh copy of the photo folder per test (tests rename, edit and delete files)."""
    target = tmp_path / "photos"
    shutil.copytree(photo_source, target)
    return target


@dataclass
class CountingEncoder:
    """Wraps a real encoder and counts the images it embeds."""

    inner: object
    images: int = 0
    batches: list[int] = field(default_factory=list)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _count(self, items) -> None:
        self.images += len(items)
        self.batches.append(len(items))

    def encode_images(self, images):
        self._count(images)
        return self.inner.encode_images(images)

    def encode_pixels(self, pixels):
        self._count(pixels)
        return self.inner.encode_pixels(pixels)

    def encode_pixels_one_core(self, pixels):
        self._count(pixels)
        return self.inner.encode_pixels_one_core(pixels)


@pytest.fixture
def counting_encoder(tiny_clip_dir):
    """The tiny CLIP behind a counter of the images it embeds, on every path of the stream."""
    from polymodal.vision import get_encoder

    real = get_encoder(str(tiny_clip_dir))
    wrapper = CountingEncoder(real)
    return wrapper
