"""What the search room returns: an ingest's report, search hits, a collection's facts.

Plain frozen records rendered by :mod:`polymodal.render` like every result, so the CLI's
``--json``, the server and users' code see the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ImageFacts:
    """What ingest stores beside an image's vector, read without decoding its pixels.

    ``date`` is when the photo was taken: the EXIF capture time when the file has one (then
    ``taken_at`` holds it too), else the file's modification time, so date filters work on
    every image. ``size`` and ``mtime`` recognise an unchanged file without reading it.
    """

    path: str
    hash: str
    size: int
    mtime: float
    width: int
    height: int
    date: datetime
    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file ingest could not use, and the sentence saying why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IndexReport:
    """What one ingest changed: counts per kind, and the files skipped (with reasons).

    ``added`` are new images embedded (or copies of stored content, whose vector is reused),
    ``updated`` files whose content changed, ``moved`` files found under a new path with a
    stored content hash (vector reused, old path dropped), ``removed`` stored images whose
    files are gone, ``unchanged`` files recognised by path, size and modification time without
    being read. ``embedded`` counts the model runs, ``index`` what was done to the vector index
    ("none", "built", "rebuilt", "optimized").
    """

    collection: str
    added: int
    updated: int
    moved: int
    removed: int
    unchanged: int
    skipped: tuple[Skipped, ...]
    embedded: int
    seconds: float
    total: int
    index: str = "none"


@dataclass(frozen=True)
class Hit:
    """One image a search found.

    ``score`` is CLIP's cosine similarity between the query and the image; ``confidence``
    (0..1) says how sure the match is, calibrated so 0.5 is the default cutoff (see
    :mod:`polymodal.search.relevance`).
    """

    rank: int
    path: str
    score: float
    confidence: float
    width: int
    height: int
    date: datetime | None = None
    camera: str | None = None


@dataclass(frozen=True)
class SearchResult:
    """A search's hits, best first, and what a caller should be told about them.

    ``hits`` holds only confident matches unless ``min_score`` was given. When nothing
    matches, ``hits`` is empty and ``message`` says so, with the best score seen
    (``best_score``, ``best_confidence``). ``polymodal.search_images`` adds the query
    checker's warnings (:class:`polymodal.tasks.search.AdvisedSearch`).
    """

    collection: str
    query: str
    kind: str  # "text" or "image"
    hits: tuple[Hit, ...]
    cutoff: str  # "confidence >= 0.5" or "score >= 0.25"
    considered: int
    best_score: float | None = None
    best_confidence: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class CollectionStats:
    """A collection's facts: what model made its vectors, how many images, its index."""

    name: str
    model: str
    model_id: str
    dim: int
    images: int
    schema_version: int
    indexed: bool
    uri: str
