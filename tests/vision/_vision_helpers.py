"""Controlled embeddings for the vision task tests: a stand-in for the CLIP encoder.

The tasks (classify, similarity, dedup, moderate) reach CLIP only through
``polymodal.vision.embed`` (``embed_images``, ``embed_texts``, ``get_encoder``). ``FakeClip``
replaces those three with known vectors, so a test can state exactly which similarities the
model "sees" and check the task's arithmetic and decisions against them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polymodal.progress import Progress
from polymodal.vision import embed
from polymodal.vision.embed import Failure, ImageEmbeddings


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def random_unit(text: str, dim: int) -> np.ndarray:
    """A fixed pseudo-random unit vector per text (nearly orthogonal to others in high dim)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return unit(*np.random.default_rng(seed).standard_normal(dim))


@dataclass
class _Encoder:
    model_id: str
    dim: int
    logit_scale: float
    image_size: int = 224


@dataclass
class FakeClip:
    """Known vectors for image files (by file name stem) and for texts.

    ``texts`` maps a text to its vector; texts not in it get ``text_rule(text)`` when given,
    else a random unit vector. Every call is recorded in ``image_calls`` / ``text_calls``.
    """

    images: Mapping[str, np.ndarray]
    texts: Mapping[str, np.ndarray] = field(default_factory=dict)
    text_rule: Callable[[str], np.ndarray] | None = None
    logit_scale: float = 100.0
    model_id: str = "fake-clip"
    image_calls: list[list[str]] = field(default_factory=list)
    text_calls: list[list[str]] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return len(next(iter(self.images.values())))

    def install(self, monkeypatch) -> FakeClip:
        monkeypatch.setattr(embed, "embed_images", self.embed_images)
        monkeypatch.setattr(embed, "embed_texts", self.embed_texts)
        monkeypatch.setattr(embed, "get_encoder", self.get_encoder)
        return self

    def get_encoder(self, model=None, int8=None) -> _Encoder:
        return _Encoder(self.model_id, self.dim, self.logit_scale)

    def text_vector(self, text: str) -> np.ndarray:
        if text in self.texts:
            return np.asarray(self.texts[text], dtype=np.float32)
        if self.text_rule is not None:
            return self.text_rule(text)
        return random_unit(text, self.dim)

    def embed_texts(self, texts, *, model=None, cache=True, int8=None) -> np.ndarray:
        self.text_calls.append(list(texts))
        return np.stack([self.text_vector(t) for t in texts]).astype(np.float32)

    def embed_images(
        self,
        images,
        *,
        model=None,
        cache=True,
        batch_size=32,
        int8=None,
        progress=None,
        cancel=None,
    ) -> ImageEmbeddings:
        paths = [str(p) for p in images]
        self.image_calls.append(paths)
        kept, vectors, failures = [], [], []
        for done, path in enumerate(paths, start=1):
            stem = Path(path).stem
            if not Path(path).exists():
                failures.append(Failure(path, f"Image file '{path}' does not exist."))
            elif stem not in self.images:
                failures.append(Failure(path, f"'{path}' is not an image file we can read."))
            else:
                kept.append(path)
                vectors.append(np.asarray(self.images[stem], dtype=np.float32))
            if progress is not None:
                progress(Progress("embed", done, len(paths), "images"))
        matrix = np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        return ImageEmbeddings(tuple(kept), matrix, tuple(failures), self.model_id, len(kept), 0)


def touch_images(folder: Path, names: list[str], suffix: str = ".jpg") -> dict[str, Path]:
    """Placeholder files named like images (FakeClip never decodes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        path = folder / f"{name}{suffix}"
        path.write_bytes(b"placeholder " + name.encode())
        paths[name] = path
    return paths
