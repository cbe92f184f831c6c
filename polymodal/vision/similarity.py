"""How alike two things are to CLIP, and which images look most like a query image.

Scores are cosine similarities of unit embeddings, in [-1, 1]. Two images of the same scene
score around 0.9 and above with OpenAI CLIP; an image and a matching caption only about
0.25-0.35, because the two towers' embeddings occupy different regions of the space. Compare
image-image scores with each other and image-text scores with each other, never across.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymodal.errors import BadInputError
from polymodal.progress import CancelToken, ProgressCallback
from polymodal.vision import embed
from polymodal.vision.embed import Failure, ModelRef
from polymodal.vision.files import PathLike, image_files


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


@dataclass(frozen=True)
class Comparison:
    """How alike ``a`` (an image file) and ``b`` (an image file, or a text) are to CLIP.

    ``b_kind`` says which ``b`` is, as the caller said it: ``"image"`` or ``"text"``.
    """

    a: str
    b: str
    b_kind: str
    similarity: float
    model_id: str


def _one_image(path: PathLike, encoder: object, param: str) -> np.ndarray:
    embedded = embed.embed_images([path], model=encoder)
    if embedded.failures:
        raise BadInputError(embedded.failures[0].reason, param=param)
    return embedded.vectors[0]


def compare(
    image: PathLike,
    other: PathLike | None = None,
    *,
    text: str | None = None,
    model: ModelRef = None,
) -> Comparison:
    """Cosine similarity of ``image`` and ``other`` (two image files), or of ``image`` and
    ``text``: give exactly one of ``other`` and ``text``.

    What is a file and what is a text is the caller's word, never guessed from the string:
    ``text`` is never opened, even when it names a file (a server must not open a path that
    came from request text), and ``other`` is always an image. A missing or unreadable image
    raises :class:`BadInputError` naming the argument.
    """
    if (other is None) == (text is None):
        raise BadInputError(
            "Compare the image with one other image or with one text, not both or neither.",
            param="text" if text is not None else "other",
        )
    encoder = embed.get_encoder(model)
    first = _one_image(image, encoder, "image")
    if text is not None:
        if not text.strip():
            raise BadInputError("Cannot compare with an empty text.", param="text")
        second, b, kind = embed.embed_texts([text], model=encoder)[0], text, "text"
    else:
        second, b, kind = _one_image(other, encoder, "other"), str(other), "image"  # type: ignore[arg-type]
    score = float(np.dot(first, second))
    return Comparison(str(image), b, kind, score, str(encoder.model_id))


def similarity(
    image: PathLike,
    other: PathLike | None = None,
    *,
    text: str | None = None,
    model: ModelRef = None,
) -> float:
    """:func:`compare`'s cosine alone: ``similarity("a.jpg", "b.jpg")`` for two images,
    ``similarity("a.jpg", text="a cat")`` for an image and a text.

    Changed from earlier versions, which guessed whether a string named a file: a text now
    always goes by ``text=``.
    """
    return compare(image, other, text=text, model=model).similarity


def rank_similar(
    query_image: PathLike,
    candidates: PathLike | Sequence[PathLike],
    *,
    top_k: int | None = None,
    model: ModelRef = None,
    cache: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Ranking:
    """Rank candidate images (files or folders of images) by similarity to ``query_image``.

    The query file itself is left out of the candidates. Unreadable candidates are reported in
    ``failures``; an unreadable query raises :class:`BadInputError`.
    """
    if top_k is not None and top_k < 1:
        raise BadInputError(f"top_k must be at least 1, got {top_k}.", param="top_k")
    encoder = embed.get_encoder(model)
    query = _one_image(query_image, encoder, "query_image")
    own = Path(query_image).resolve()
    pool = [p for p in image_files(candidates, param="candidates") if Path(p).resolve() != own]
    embedded = embed.embed_images(
        pool, model=encoder, cache=cache, progress=progress, cancel=cancel
    )
    scores = embedded.vectors @ query
    order = np.argsort(-scores, kind="stable")[:top_k]
    return Ranking(
        query=str(query_image),
        matches=tuple(Match(embedded.paths[i], float(scores[i])) for i in order),
        failures=embedded.failures,
        model_id=embedded.model_id,
    )
