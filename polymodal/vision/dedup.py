"""Finding duplicate photos: exact copies, edited copies, and near-identical shots.

Three kinds, from strictest to loosest, each a group with a suggested keeper:

* ``exact``: the same bytes (content hash);
* ``near-exact``: the same picture resized, recompressed, slightly cropped, rotated by
  90/180/270° or mirrored (perceptual fingerprints, :mod:`polymodal.vision.phash`);
* ``semantic``: different files CLIP sees as the same image (cosine over a threshold), such
  as burst shots or heavier edits. These are *not* copies: review them before removing any.

Files are linked pairwise and grouped with union-find, so a chain (A exact of B, B rotated C)
forms one group. Nothing is moved or deleted here; see
:func:`polymodal.vision.dedup_report.remove_duplicates` for an explicit clean-up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from polymodal.errors import BadInputError, PolymodalError
from polymodal.media.image import content_hash, load_image
from polymodal.progress import CancelToken, ProgressCallback, Reporter
from polymodal.vision import embed, phash
from polymodal.vision.dedup_report import DuplicateReport, Picture, UnionFind, build_groups
from polymodal.vision.embed import Failure, ModelRef
from polymodal.vision.files import PathLike, image_files
from polymodal.vision.records import require_readable

#: Default cosine similarity over which CLIP calls two different files the same picture.
#: Same-scene shots and heavy edits score about 0.95-0.99 with OpenAI CLIP ViT-B/32, merely
#: similar photos (two cats, two beaches) 0.80-0.92.
DEFAULT_SEMANTIC_THRESHOLD = 0.95


_ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def _stored_size(path: str) -> tuple[int, int]:
    """Width and height as displayed, from the header (the decode may be at reduced scale)."""
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112) in _ROTATED_ORIENTATIONS:
            return height, width
        return width, height


def _picture(paths: tuple[str, ...]) -> Picture | Failure:
    path = paths[0]
    try:
        image = load_image(path, min_side=phash.THUMBNAIL_SIDE)
        width, height = _stored_size(path)
        return Picture(paths, width, height, os.path.getsize(path), phash.fingerprint(image))
    except PolymodalError as exc:
        return Failure(path, str(exc))
    except Exception as exc:  # one odd file never stops a folder
        return Failure(path, f"'{path}' could not be read: {exc}")


def _by_content(files: Sequence[str]) -> tuple[list[tuple[str, ...]], list[Failure]]:
    """Exact-copy classes in first-seen order, and the files that cannot be read at all."""
    classes: dict[str, list[str]] = {}
    failures: list[Failure] = []

    def one(path: str) -> str | Failure:
        try:
            return content_hash(path)
        except BadInputError as exc:
            return Failure(path, str(exc))

    with ThreadPoolExecutor(embed.decode_workers()) as pool:
        for path, key in zip(files, pool.map(one, files), strict=True):
            if isinstance(key, Failure):
                failures.append(key)
            else:
                classes.setdefault(key, []).append(path)
    return [tuple(paths) for paths in classes.values()], failures


def _pictures(
    classes: list[tuple[str, ...]], report: Reporter
) -> tuple[list[Picture], list[Failure]]:
    """Decode and fingerprint one file per exact-copy class (stage ``"hash"``); a cancel
    drops the files not started yet instead of waiting for them."""
    pictures: list[Picture] = []
    failures: list[Failure] = []
    pool = ThreadPoolExecutor(embed.decode_workers())
    try:
        report(0, len(classes))
        for done, item in enumerate(pool.map(_picture, classes), start=1):
            if isinstance(item, Failure):
                failures += [Failure(p, item.reason) for p in classes[done - 1]]
            else:
                pictures.append(item)
            report(done, len(classes))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return pictures, failures


def _semantic_pairs(vectors: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Index pairs i < j with cosine ≥ threshold, in row blocks (no N×N matrix kept)."""
    pairs: list[tuple[int, int]] = []
    block = max(1, 4_000_000 // max(1, len(vectors)))
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors.T
        rows, cols = np.nonzero(scores >= threshold)
        pairs += [(start + r, c) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
    return [(i, j) for i, j in pairs if i < j]


def _embed(
    pictures: list[Picture],
    model: ModelRef,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> tuple[np.ndarray, list[int], list[Failure], str]:
    """CLIP vectors of the pictures that embed, their indices, failures and the model id
    (stage ``"embed"``)."""
    embedded = embed.embed_images(
        [p.paths[0] for p in pictures], model=model, progress=progress, cancel=cancel
    )
    index_of = {p.paths[0]: i for i, p in enumerate(pictures)}
    kept = [index_of[path] for path in embedded.paths]
    return embedded.vectors, kept, list(embedded.failures), embedded.model_id


def _check_options(hash_distance: int, semantic: bool, semantic_threshold: float) -> None:
    if not 0 <= hash_distance <= phash.HASH_BITS:
        raise BadInputError(
            f"hash_distance must be 0-{phash.HASH_BITS}, got {hash_distance}.",
            param="hash_distance",
        )
    if semantic and not -1.0 <= semantic_threshold <= 1.0:
        raise BadInputError(
            f"semantic_threshold must be -1 to 1, got {semantic_threshold}.",
            param="semantic_threshold",
        )


def _perceptual(pictures: list[Picture], hash_distance: int, report: Reporter) -> UnionFind:
    """Near-exact copies linked (stage ``"compare"``)."""
    perceptual = UnionFind(len(pictures))
    prints = [p.print for p in pictures]
    for i, j, _ in phash.close_pairs(prints, hash_distance, progress=report):
        perceptual.union(i, j)
    return perceptual


def find_duplicates(
    paths_or_dir: PathLike | Sequence[PathLike],
    *,
    semantic_threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
    hash_distance: int = phash.DEFAULT_HASH_DISTANCE,
    model: ModelRef = None,
    semantic: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DuplicateReport:
    """Group duplicate images among files and folders (searched recursively).

    ``hash_distance``: the most fingerprint bits (of 128) two files may differ by to be
    near-exact copies. ``semantic_threshold``: the least CLIP cosine for a semantic pair;
    ``semantic=False`` skips CLIP (no model needed). Unreadable files land in ``failures``.
    ``progress`` hears three stages, each from 0 to its own total: ``"hash"`` (files
    fingerprinted), ``"compare"`` (fingerprints compared) and, with ``semantic``, ``"embed"``
    (images through CLIP); ``cancel`` stops between files or batches. Nothing is moved or
    deleted.
    """
    _check_options(hash_distance, semantic, semantic_threshold)
    files = image_files(paths_or_dir, param="paths_or_dir")
    classes, failures = _by_content(files)
    pictures, bad = _pictures(classes, Reporter(progress, "hash", "images", cancel))
    failures += bad
    perceptual = _perceptual(
        pictures, hash_distance, Reporter(progress, "compare", "images", cancel)
    )
    grouping = UnionFind(len(pictures))
    for i in range(len(pictures)):
        grouping.union(i, perceptual.find(i))
    vectors: dict[int, np.ndarray] = {}
    model_id = None
    if semantic and len(pictures) > 1:
        matrix, kept, embed_failures, model_id = _embed(pictures, model, progress, cancel)
        failures += embed_failures
        vectors = dict(zip(kept, matrix, strict=True))
        for a, b in _semantic_pairs(matrix, semantic_threshold):
            grouping.union(kept[a], kept[b])
    require_readable(failures, len(files) - len(failures))
    groups = build_groups(pictures, grouping, perceptual, vectors)
    return DuplicateReport(
        groups=groups,
        failures=tuple(sorted(failures, key=lambda f: f.path)),
        scanned=len(files),
        hash_distance=hash_distance,
        semantic_threshold=semantic_threshold if semantic else None,
        model_id=model_id,
    )
