"""How alike two things are to CLIP, and which images look most like a query image.

Scores are cosine similarities of unit embeddings, in [-1, 1]. Two images of the same scene
score around 0.9 and above with OpenAI CLIP; an image and a matching caption only about
0.25-0.35, because the two towers' embeddings occupy different regions of the space. Compare
image-image scores with each other and image-text scores with each other, never across.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymodal.errors import BadInputError
from polymodal.progress import ProgressCallback
from polymodal.vision import embed
from polymodal.vision.embed import Failure
from polymodal.vision.files import IMAGE_EXTENSIONS, PathLike, image_files


@dataclass(frozen=True)
class Match:
    """A candidate image and its cosine similarity to the query."""

    path: str
    score: float


@dataclass(frozen=True)
class Ranking:
    """Candidates ranked by similarity to ``query``, best first; unreadable ones apart.

    Iterating, indexing and ``len`` act on ``matches``, so it reads like a list of matches.
    """

    query: str
    matches: tuple[Match, ...]
    failures: tuple[Failure, ...]
    model_id: str

    def __iter__(self) -> Iterator[Match]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def __getitem__(self, index: int) -> Match:
        return self.matches[index]


def _is_image_path(value: str | os.PathLike[str]) -> bool:
    """Is ``value`` meant as an image file? Paths are; strings are if they exist or look it."""
    if isinstance(value, os.PathLike) or Path(value).is_file():
        return True
    text = str(value)
    looks_like_file = Path(text).suffix.lower() in IMAGE_EXTENSIONS and " " not in text
    return looks_like_file or (os.sep in text and Path(text).parent.is_dir())


def _one_image(path: str | os.PathLike[str], model: str | os.PathLike[str] | None) -> np.ndarray:
    embedded = embed.embed_images([path], model=model)
    if embedded.failures:
        raise BadInputError(embedded.failures[0].reason)
    return embedded.vectors[0]


def _vector(value: str | os.PathLike[str], model: str | os.PathLike[str] | None) -> np.ndarray:
    if _is_image_path(value):
        return _one_image(value, model)
    if not str(value).strip():
        raise BadInputError("Cannot compare with an empty text.")
    return embed.embed_texts([str(value)], model=model)[0]


def similarity(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
) -> float:
    """Cosine similarity of two images, or of an image and a text (either order).

    A ``Path``, an existing file or a string that looks like an image file name is an image;
    any other string is a text. A missing or unreadable image raises :class:`BadInputError`.
    """
    return float(np.dot(_vector(a, model), _vector(b, model)))


def rank_similar(
    query_image: PathLike,
    candidates: PathLike | Sequence[PathLike],
    *,
    top_k: int | None = None,
    model: str | os.PathLike[str] | None = None,
    cache: bool = True,
    progress: ProgressCallback | None = None,
) -> Ranking:
    """Rank candidate images (files or folders of images) by similarity to ``query_image``.

    The query file itself is left out of the candidates. Unreadable candidates are reported in
    ``failures``; an unreadable query raises :class:`BadInputError`.
    """
    if top_k is not None and top_k < 1:
        raise BadInputError(f"top_k must be at least 1, got {top_k}.")
    query = _one_image(query_image, model)
    own = Path(query_image).resolve()
    pool = [p for p in image_files(candidates) if Path(p).resolve() != own]
    embedded = embed.embed_images(pool, model=model, cache=cache, progress=progress)
    scores = embedded.vectors @ query
    order = np.argsort(-scores, kind="stable")[:top_k]
    return Ranking(
        query=str(query_image),
        matches=tuple(Match(embedded.paths[i], float(scores[i])) for i in order),
        failures=embedded.failures,
        model_id=embedded.model_id,
    )
