"""Vector arithmetic every room shares: unit length and cosine similarity.

CLIP embeddings, text prompts and voice prints are all compared by cosine, so they are all
normalised the same way, here, once.
"""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (one or many, last axis the dimension) scaled to length 1, as float32.

    An all-zero vector stays zero instead of becoming NaN, so a silent or blank input compares
    as unlike everything rather than poisoning a whole matrix product.
    """
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.maximum(norms, np.float32(1e-12))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity between the rows of ``a`` and ``b`` (a matrix, or a number for two
    single vectors)."""
    return unit_rows(a) @ unit_rows(b).T
