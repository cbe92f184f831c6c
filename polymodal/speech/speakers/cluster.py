"""Clustering window embeddings into voices, and smoothing window labels into turns.

Calibration (espeak-ng voices, Resemblyzer, see ``tests/speakers``): 1.6 s windows of one voice
agree at cosine ≈ 0.80 (median), windows of two different voices at 0.55-0.77; averaged over a
whole turn the same voice agrees at ≈ 0.94 and different voices at ≈ 0.78. So the count of
voices is found in two steps:

1. average-linkage agglomerative clustering of the windows, cut at cosine distance
   :data:`WINDOW_CUT` (similarity 0.70: below the same-voice median of 0.80 by about the spread of
   same-voice pairs, above most different-voice medians), which may split one voice in two;
2. clusters whose centroids agree above :data:`MERGE_SIMILARITY` (0.86, midway between the
   0.94 of one voice and the 0.78 of two) are merged, and clusters holding less than
   :data:`MIN_SPEAKER_SECONDS` of windows (9 windows at 3 a second) are folded into their
   nearest neighbour, so a few odd windows never invent a speaker. On a 28-turn test
   conversation the windows straddling a change of voice (hearing two people) formed stray
   clusters of 4-6 windows; a real speaker with under 3 s of speech in a recording is rare.

A fixed count skips both steps: the windows are cut into exactly that many clusters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from polymodal.speech.speakers.voices import FRAMES_PER_SECOND, STEP_FRAMES, Windows
from polymodal.vectors import unit_rows

WINDOW_CUT = 0.30
MERGE_SIMILARITY = 0.86
MIN_SPEAKER_SECONDS = 3.0
MIN_TURN = 1.0  # seconds: a label flicker shorter than this inside speech is not a turn
JOIN_GAP = 1.0  # seconds: pieces of one speaker closer than this form one turn
GRID = 0.05  # seconds: time resolution of the labels


def cluster(
    vectors: np.ndarray,
    count: int | None = None,
    min_count: int | None = None,
    max_count: int | None = None,
) -> np.ndarray:
    """Cluster ids (0..k-1) for unit vectors: ``count`` fixes k, else it is found and clamped."""
    n = len(vectors)
    if n < 2 or count == 1:
        return np.zeros(n, dtype=int)
    if count is not None:
        return _exactly(vectors, min(count, n))
    labels = _agglomerate(vectors, threshold=WINDOW_CUT)
    labels = _fold_small(vectors, _merge_similar(vectors, labels), _min_windows())
    found = labels.max() + 1
    wanted = min(max(found, min_count or 1), max_count or n, n)
    return labels if wanted == found else _exactly(vectors, wanted)


def _min_windows() -> int:
    return round(MIN_SPEAKER_SECONDS * FRAMES_PER_SECOND / STEP_FRAMES)


def _exactly(vectors: np.ndarray, k: int) -> np.ndarray:
    """Exactly ``k`` clusters, preferring ones big enough to be a speaker.

    Cutting the tree straight at ``k`` can spend a cluster on a handful of windows that hear two
    voices at once; so the tree is cut a little finer, stray clusters are folded, and the most
    similar remaining clusters are merged down to ``k``. When the audio does not hold ``k``
    voices of that size, the plain cut at ``k`` gives the count asked for anyway.
    """
    for extra in range(4):
        labels = _agglomerate(vectors, n_clusters=min(k + extra, len(vectors)))
        labels = _fold_small(vectors, labels, _min_windows())
        if labels.max() + 1 >= k:
            return _refine(vectors, _merge_down(vectors, labels, k), steps=3)
    return _refine(vectors, _agglomerate(vectors, n_clusters=k), steps=3)


def _agglomerate(
    vectors: np.ndarray, *, n_clusters: int | None = None, threshold: float | None = None
) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=n_clusters,
        distance_threshold=threshold,
        metric="cosine",
        linkage="average",
    )
    return model.fit_predict(vectors)


def centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit mean vector of each cluster id 0..max(labels)."""
    return unit_rows(np.stack([vectors[labels == k].mean(axis=0) for k in range(labels.max() + 1)]))


def _compact(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids to 0..k-1 keeping their order."""
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def _merge_similar(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Merge the most similar pair of clusters while their centroids agree enough."""
    return _merge(vectors, labels, lambda count, similarity: similarity >= MERGE_SIMILARITY)


def _merge_down(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Merge the most similar pair of clusters until ``k`` are left."""
    return _merge(vectors, labels, lambda count, similarity: count > k)


def _merge(vectors: np.ndarray, labels: np.ndarray, go_on) -> np.ndarray:
    labels = _compact(labels)
    while labels.max() > 0:
        c = centroids(vectors, labels)
        sims = c @ c.T
        np.fill_diagonal(sims, -1)
        a, b = np.unravel_index(np.argmax(sims), sims.shape)
        if not go_on(labels.max() + 1, sims[a, b]):
            break
        labels = _compact(np.where(labels == b, a, labels))
    return labels


def _fold_small(vectors: np.ndarray, labels: np.ndarray, min_windows: int) -> np.ndarray:
    """Fold clusters with fewer than ``min_windows`` windows into their nearest big cluster."""
    labels = _compact(labels)
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes >= min_windows)
    if len(big) == 0:
        return np.zeros_like(labels)
    c = centroids(vectors, labels)
    for k in np.flatnonzero(sizes < min_windows):
        members = labels == k
        scores = vectors[members] @ c[big].T
        labels[members] = big[np.argmax(scores, axis=1)]
    return _compact(labels)


def _refine(vectors: np.ndarray, labels: np.ndarray, steps: int) -> np.ndarray:
    """A few k-means steps on the sphere, keeping every cluster non-empty."""
    labels = _compact(labels)
    k = labels.max() + 1
    for _ in range(steps):
        new = np.argmax(vectors @ centroids(vectors, labels).T, axis=1)
        if len(np.unique(new)) < k or np.array_equal(new, labels):
            break
        labels = new
    return labels


# --- from window labels to turns --------------------------------------------------------------


def turns_from_windows(
    windows: Windows,
    labels: np.ndarray,
    regions: Sequence[tuple[float, float]],
) -> list[tuple[float, float, int]]:
    """Speaker turns (start, end, cluster id) over the speech regions.

    Each point of a fine time grid takes the cluster whose centroid the windows covering it
    resemble most on average, so a change of voice is placed between window centres rather
    than at window edges. Inside a region, runs shorter than :data:`MIN_TURN` are absorbed by
    a neighbour; pieces of one speaker separated by less than :data:`JOIN_GAP` form one turn.
    """
    scores = windows.vectors @ centroids(windows.vectors, labels).T
    pieces: list[tuple[float, float, int]] = []
    for start, end in regions:
        inside = (windows.spans[:, 0] < end) & (windows.spans[:, 1] > start)
        if not inside.any():
            continue
        pieces += _label_region(start, end, windows.spans[inside], scores[inside])
    return _join(pieces)


def _label_region(
    start: float, end: float, spans: np.ndarray, scores: np.ndarray
) -> list[tuple[float, float, int]]:
    grid = np.arange(start, end, GRID) + GRID / 2
    covered = (spans[None, :, 0] <= grid[:, None]) & (spans[None, :, 1] > grid[:, None])
    # Points no window covers (a region's tail) take the nearest window.
    centers = spans.mean(axis=1)
    nearest = np.argmin(np.abs(grid[:, None] - centers[None, :]), axis=1)
    uncovered = ~covered.any(axis=1)
    covered[uncovered, nearest[uncovered]] = True
    point_scores = (covered.astype(float) @ scores) / covered.sum(axis=1, keepdims=True)
    best = np.argmax(point_scores, axis=1)
    best = _absorb_flickers(best, point_scores, round(MIN_TURN / GRID))
    out = []
    for run_start, run_end in _label_runs(best):
        s = start + run_start * GRID
        e = min(end, start + run_end * GRID)
        out.append((s, e, int(best[run_start])))
    return out


def _label_runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of runs of equal labels."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = [0, *edges.tolist(), len(labels)]
    return list(itertools.pairwise(bounds))


def _absorb_flickers(best: np.ndarray, scores: np.ndarray, min_len: int) -> np.ndarray:
    """Relabel the shortest run below ``min_len`` to the neighbour it resembles most, repeatedly."""
    best = best.copy()
    while True:
        runs = _label_runs(best)
        if len(runs) < 2:
            return best
        lengths = [e - s for s, e in runs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_len:
            return best
        s, e = runs[i]
        neighbours = [best[runs[j][0]] for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        mean = scores[s:e].mean(axis=0)
        best[s:e] = max(neighbours, key=lambda k: mean[k])


def _join(pieces: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    out: list[tuple[float, float, int]] = []
    for start, end, who in sorted(pieces):
        if out and out[-1][2] == who and start - out[-1][1] < JOIN_GAP:
            out[-1] = (out[-1][0], max(out[-1][1], end), who)
        else:
            out.append((start, end, who))
    return out
