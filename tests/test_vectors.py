"""The one unit normaliser shared by CLIP embeddings, prompts and voice prints."""

from __future__ import annotations

import numpy as np

from polymodal.vectors import cosine, unit_rows


def test_rows_get_unit_length_and_zero_rows_stay_zero():
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_cosine_of_rows_and_of_single_vectors():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert np.allclose(cosine(a, a), [[1.0, 2**-0.5], [2**-0.5, 1.0]], atol=1e-6)
    assert np.isclose(cosine(np.array([2.0, 0.0]), np.array([0.0, 5.0])), 0.0)
