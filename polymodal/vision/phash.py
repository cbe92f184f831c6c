"""Perceptual fingerprints that survive rotation, mirroring and slight cropping.

Photo managers compare one perceptual hash per image, so a copy rotated by 90°, mirrored, or
cropped by a few percent looks like a different picture to them. Here every image gets:

* its **8 orientations** (the dihedral group: rotations by 0/90/180/270°, each also mirrored);
* 15 **views**: the whole image, centred, edge and corner crops at 92 % of each side, a centred
  crop at 84 %, and one-sided crops that drop 10 % of one edge.

A pair's distance is the smallest Hamming distance between a view of one image and an
orientation of the other (in both directions), so a copy that was cropped, rotated, resized
and recompressed still lands within a few bits of its original while distinct photos stay far.

Each hash is imagehash's pHash (64 bits, DCT of a 32×32 grey thumbnail) joined with its dHash
(64 bits, horizontal gradients of a 9×8 thumbnail): 128 bits in all. The arithmetic is
imagehash's, batched with numpy so a photo costs a few milliseconds rather than ~50 ms for the
31 hashes; ``tests/vision/test_dedup.py`` checks the bits equal imagehash's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Bits per hash (pHash 64 + dHash 64): the scale of ``hash_distance`` thresholds.
HASH_BITS = 128

#: Default largest distance, in bits out of 128, for two files to count as the same picture.
#: On scikit-image's photos, resized/recompressed/rotated/mirrored copies measure 0-6 bits,
#: crops of up to 8 % per side up to 15, and distinct photos 22 or more.
DEFAULT_HASH_DISTANCE = 18

#: Side of the thumbnail every hash is computed from (decoding may stop at about this size).
THUMBNAIL_SIDE = 128

_CROP_SCALE = 0.92
_DEEP_CROP = 0.84
_SIDE_CROP = 0.10
_ORIENTATIONS = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


@dataclass(frozen=True)
class Fingerprint:
    """An image's hashes as bits: ``orientations`` (8, 128) and ``views`` (V, 128), bool."""

    orientations: np.ndarray
    views: np.ndarray


def _boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Crop boxes for the views: whole, centre/corner/edge crops per scale, one-sided crops."""
    boxes = [(0, 0, width, height)]
    cw, ch = max(1, round(width * _CROP_SCALE)), max(1, round(height * _CROP_SCALE))
    xs, ys = (0, (width - cw) // 2, width - cw), (0, (height - ch) // 2, height - ch)
    boxes += [(x, y, x + cw, y + ch) for y in ys for x in xs]
    cw, ch = max(1, round(width * _DEEP_CROP)), max(1, round(height * _DEEP_CROP))
    boxes.append(((width - cw) // 2, (height - ch) // 2, (width + cw) // 2, (height + ch) // 2))
    dx, dy = round(width * _SIDE_CROP), round(height * _SIDE_CROP)
    boxes += [(dx, 0, width, height), (0, 0, width - dx, height)]
    boxes += [(0, dy, width, height), (0, 0, width, height - dy)]
    return boxes


def _lanczos(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)


def _dct2(blocks: np.ndarray) -> np.ndarray:
    import scipy.fftpack

    return scipy.fftpack.dct(scipy.fftpack.dct(blocks, axis=1), axis=2)


def hash_bits(images: Sequence[Image.Image]) -> np.ndarray:
    """pHash ⧺ dHash bits (N, 128) bool of grey images, exactly as imagehash computes them."""
    grey = [image.convert("L") for image in images]
    large = np.stack([_lanczos(image, (32, 32)) for image in grey])
    low = _dct2(large)[:, :8, :8].reshape(len(grey), 64)
    phash = low > np.median(low, axis=1, keepdims=True)
    small = np.stack([_lanczos(image, (9, 8)) for image in grey])
    dhash = (small[:, :, 1:] > small[:, :, :-1]).reshape(len(grey), 64)
    return np.concatenate([phash, dhash], axis=1)


def fingerprint(image: Image.Image) -> Fingerprint:
    """The orientations and views of one decoded image (any size; reduced to a thumbnail)."""
    grey = image.convert("L")
    grey.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    oriented = [grey if t is None else grey.transpose(t) for t in _ORIENTATIONS]
    views = [grey.crop(box) for box in _boxes(*grey.size)]
    bits = hash_bits([*oriented, *views])
    return Fingerprint(orientations=bits[: len(oriented)], views=bits[len(oriented) :])


#: Largest intermediate array, in float32 elements, while comparing fingerprints (64 MB).
_BLOCK_ELEMENTS = 16_000_000


def _signs(bits: np.ndarray) -> np.ndarray:
    return np.where(bits, np.float32(1), np.float32(-1))


def _best_dot(views: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """(a, b): max over (view of a_i, orientation of b_j) of the ±1 dot product."""
    a, v, bits = views.shape
    b, t, _ = orientations.shape
    dots = views.reshape(a * v, bits) @ orientations.reshape(b * t, bits).T
    return dots.reshape(a, v, b, t).max(axis=(1, 3))


def _row_blocks(prints: Sequence[Fingerprint]):
    """Yield ``(start, distances)``: symmetric distances of a block of rows to every print.

    Hamming distance on ±1 vectors is ``(bits - dot) / 2``, so every view-orientation
    comparison of a block is one float32 matrix product (exact for integers this small).
    """
    views = _signs(np.stack([p.views for p in prints]))
    orientations = _signs(np.stack([p.orientations for p in prints]))
    n, bits = len(prints), views.shape[-1]
    per_row = views.shape[1] * orientations.shape[1] * n
    chunk = max(1, _BLOCK_ELEMENTS // per_row)
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        forward = _best_dot(views[rows], orientations)
        backward = _best_dot(views, orientations[rows]).T
        best = np.maximum(forward, backward)
        yield start, np.rint((bits - best) / 2).astype(np.int16)


def distance_matrix(prints: Sequence[Fingerprint]) -> np.ndarray:
    """Symmetric (N, N) matrix of the smallest view-to-orientation distance, in bits."""
    if not prints:
        return np.zeros((0, 0), dtype=np.int16)
    return np.concatenate([block for _, block in _row_blocks(prints)])


def close_pairs(
    prints: Sequence[Fingerprint],
    max_distance: int,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[int, int, int]]:
    """Index pairs ``(i, j, distance)`` with i < j and distance ≤ ``max_distance``.

    Memory stays bounded (no N×N matrix); time grows with N² (about a second per 1,000
    images), which suits personal photo folders. ``progress(rows done, rows)`` is called after
    each block of rows (a :class:`~polymodal.progress.Reporter` also checks its cancel token).
    """
    if not prints:
        return []
    pairs = []
    for start, block in _row_blocks(prints):
        if progress is not None:
            progress(start + len(block), len(prints))
        rows, cols = np.nonzero(block <= max_distance)
        for r, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if j > start + r:
                pairs.append((start + r, j, int(block[r, j])))
    return pairs
