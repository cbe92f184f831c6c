"""Vision fixtures: a tiny random CLIP checkpoint on disk, sample photos, an isolated home.

The checkpoint is written once per session with ``save_pretrained`` (model, tokenizer, processor
config) and loaded through the catalogue like a real one, so tests exercise the user's path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A tiny random-weight CLIP checkpoint directory (64 px input, 24-d embeddings)."""
    from polymodal.vision.synthetic import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("tiny-clip"), tiny=True, seed=0)


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    """scikit-image's bundled photos saved as JPEG and PNG (a few hundred pixels each)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    arrays = {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "rocket": data.rocket(),
    }
    out: dict[str, Path] = {}
    for index, (name, array) in enumerate(arrays.items()):
        suffix = ".jpg" if index % 2 == 0 else ".png"
        path = folder / f"{name}{suffix}"
        options = {"quality": 92} if suffix == ".jpg" else {}
        Image.fromarray(array).save(path, **options)
        out[name] = path
    return out


@pytest.fixture(scope="session")
def big_jpeg(tmp_path_factory) -> Path:
    """A 2000x1500 camera-like JPEG (noisy photo), for draft decoding."""
    from skimage import data

    rng = np.random.default_rng(1)
    image = Image.fromarray(data.chelsea()).resize((2000, 1500), Image.Resampling.BICUBIC)
    array = np.asarray(image).astype(np.int16) + rng.integers(-6, 7, (1500, 2000, 3))
    path = tmp_path_factory.mktemp("big") / "camera.jpg"
    Image.fromarray(array.clip(0, 255).astype(np.uint8)).save(path, quality=90)
    return path


@pytest.fixture
def polymodal_home(tmp_path, monkeypatch) -> Path:
    """Point ``POLYMODAL_HOME`` at a fresh folder so the embedding cache is isolated."""
    home = tmp_path / "home"
    monkeypatch.setenv("POLYMODAL_HOME", str(home))
    monkeypatch.delenv("POLYMODAL_INT8", raising=False)
    return home


@pytest.fixture
def tiny_encoder(tiny_clip_dir, polymodal_home):
    """The tiny checkpoint's default (ONNX) encoder, through the catalogue."""
    from polymodal.vision import get_encoder

    return get_encoder(str(tiny_clip_dir))


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """One file per kind of bad input, keyed by kind (``missing`` is never created)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("bad")
    good = folder / "good.jpg"
    Image.fromarray(data.astronaut()).save(good, quality=90)
    raw = good.read_bytes()
    files = {
        "corrupt": folder / "corrupt.jpg",
        "truncated": folder / "truncated.jpg",
        "not_image": folder / "notes.png",
        "empty": folder / "empty.jpg",
        "bomb": folder / "bomb.png",
        "missing": folder / "missing.jpg",
    }
    files["corrupt"].write_bytes(raw[:20] + bytes(range(256)) * 40)
    files["truncated"].write_bytes(raw[: len(raw) // 3])
    files["not_image"].write_text("this is a shopping list, not a picture\n")
    files["empty"].write_bytes(b"")
    files["bomb"].write_bytes(png_bomb(30_000, 30_000))
    return files


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels of 8-bit grayscale."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows of a zero image
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
