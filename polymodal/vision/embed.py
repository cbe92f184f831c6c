"""Embedding many images and texts: cached, pipelined, and tolerant of bad files.

:func:`embed_images` collects what :func:`~polymodal.vision.stream.iter_image_batches` streams
(the decode-ahead, model-lane pipeline, see :mod:`polymodal.vision.stream`) back into input
order; :func:`embed_texts` embeds texts through the same cache. Both take a model name, a
folder or a loaded encoder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from polymodal.errors import BadInputError
from polymodal.progress import CancelToken, ProgressCallback
from polymodal.vision.cache import get_cache
from polymodal.vision.encoder import ClipEncoder, ModelRef, get_encoder
from polymodal.vision.records import Failure, ImageBatch, ImageEmbeddings
from polymodal.vision.stream import LANE_BATCH, decode_workers, iter_image_batches

__all__ = [
    "LANE_BATCH",
    "Failure",
    "ImageBatch",
    "ImageEmbeddings",
    "ModelRef",
    "decode_workers",
    "embed_images",
    "embed_texts",
    "get_encoder",
    "iter_image_batches",
]


def embed_images(
    images: Sequence[str | os.PathLike[str]],
    *,
    model: ModelRef = None,
    cache: bool = True,
    batch_size: int = 32,
    int8: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageEmbeddings:
    """Embed image files with CLIP; bad files are reported in ``failures`` and skipped.

    With ``cache`` (the default) each distinct file content is embedded once per model, ever;
    ``cache=False`` neither reads nor writes the cache. ``progress`` gets stage ``"embed"``
    reports per image; ``cancel`` stops the work between batches (what finished stays cached).
    ``model`` is a name, a folder or a loaded encoder. :func:`iter_image_batches` streams the
    same work batch by batch.
    """
    encoder = get_encoder(model, int8)
    batches = iter_image_batches(
        images,
        model=encoder,
        cache=cache,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
    )
    paths: dict[int, str] = {}
    vectors: dict[int, np.ndarray] = {}
    failures: dict[int, Failure] = {}
    computed = cached = 0
    for batch in batches:
        paths.update(zip(batch.positions, batch.paths, strict=True))
        vectors.update(zip(batch.positions, batch.vectors, strict=True))
        failures.update(zip(batch.failure_positions, batch.failures, strict=True))
        computed, cached = computed + batch.computed, cached + batch.cached
    return _collected(encoder, paths, vectors, failures, computed, cached)


def _collected(
    encoder: ClipEncoder,
    paths: dict[int, str],
    vectors: dict[int, np.ndarray],
    failures: dict[int, Failure],
    computed: int,
    cached: int,
) -> ImageEmbeddings:
    """The batches' records put back in input order."""
    order = sorted(vectors)
    matrix = (
        np.stack([vectors[i] for i in order]).astype(np.float32)
        if order
        else np.zeros((0, encoder.dim), dtype=np.float32)
    )
    return ImageEmbeddings(
        paths=tuple(paths[i] for i in order),
        vectors=matrix,
        failures=tuple(failures[i] for i in sorted(failures)),
        model_id=encoder.model_id,
        computed=computed,
        cached=cached,
    )


# --- texts ------------------------------------------------------------------------------------


def embed_texts(
    texts: Sequence[str],
    *,
    model: ModelRef = None,
    cache: bool = True,
    int8: bool | None = None,
) -> np.ndarray:
    """Embed texts with CLIP: (N, dim) float32, L2-normalised; cached by (model, text)."""
    if isinstance(texts, str):
        raise BadInputError(
            "embed_texts takes a list of texts, not a single string.", param="texts"
        )
    texts = list(texts)
    encoder = get_encoder(model, int8)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    found = get_cache().get_texts(encoder.model_id, texts) if cache else {}
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        new = encoder.encode_texts(missing)
        found.update(zip(missing, new, strict=True))
        if cache:
            get_cache().put_texts(encoder.model_id, list(zip(missing, new, strict=True)))
    return np.stack([found[t] for t in texts]).astype(np.float32)
