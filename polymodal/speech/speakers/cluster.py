"""Clustering window embeddings into voices, and smoothing window labels into turns.

The count of voices is found in three steps:

1. average-linkage agglomerative clustering of the windows, cut at cosine distance
   :data:`WINDOW_CUT` (similarity 0.70), which splits a voice into several clusters rather
   than joining two;
2. clusters holding less than :data:`MIN_SPEAKER_SECONDS` of windows are folded into their
   nearest big cluster, so the windows straddling a change of voice (hearing two people at
   once, or overlapping speech) never invent a speaker;
3. the two most similar clusters are merged while their centroids agree at least as well as
   the members of the looser of the two agree with their own centroid (its *cohesion*): two
   clusters that are no further apart than one of them is spread are one voice.

Why a relative rule. The old fixed merge threshold (centroid cosine 0.86, calibrated on
espeak-ng voices, whose windows of one voice agree at a median 0.81 and of two voices at 0.63)
does not transfer to far-field meeting audio, where every window is closer to every other
(AMI: one voice 0.73, two voices 0.65): it found 1 speaker where 3-4 talk. Cohesion measures
that spread per recording. Measured on the 9 AMI excerpts of ``real-speech/ami`` (Silero
regions at threshold 0.25, DER with no collar and overlap counted) together with five espeak-ng
conversations of 1-4 voices:

=====================================  ============  ==========  ========  ==============
rule                                   AMI count     AMI count   AMI mean  espeak counts
                                       within one    exact       DER       exact
=====================================  ============  ==========  ========  ==============
fixed 0.86, 3 s speakers (before)      5 / 9         2 / 9       0.532     5 / 5
fixed 0.86, 2 s speakers               6 / 9         4 / 9       0.555     5 / 5
fixed 0.80-0.83, 1-2 s speakers        5-7 / 9       1-2 / 9     0.51-0.53 1-4 / 5
eigengap, p-pruned affinity (NOTES e)  3-5 / 9       1 / 9       0.54-0.56 3-4 / 5
silhouette-chosen k                    5-6 / 9       2 / 9       0.54      3-4 / 5
cohesion, 2 s speakers (chosen)        6 / 9         4 / 9       0.537     5 / 5
=====================================  ============  ==========  ========  ==============

The DER hardly moves with the count: 21 % of the AMI speaker time is overlapped speech, which
one label at a time cannot score, and even the true count raises the DER (0.60 mean), since
Resemblyzer's windows do not separate these far-field voices well. Giving a second label where
two centroids score within 0.01-0.04 of each other did not lower it either (0.537-0.544), nor
did trimming the VAD's 0.4 s padding off the turns. With transcription's own regions (levelled
and rechecked at a lower threshold, which hear more of the quiet speech and some room noise) the
same rule measures 6 / 9 within one, 5 / 9 exact, mean DER 0.55-0.72, time-weighted 0.46-0.48.

A fixed count skips steps 1 and 3: the windows are cut into exactly that many clusters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from polymodal.speech.speakers.voices import FRAMES_PER_SECOND, STEP_FRAMES, Windows
from polymodal.vectors import unit_rows

WINDOW_CUT = 0.30
MIN_SPEAKER_SECONDS = 2.0  # 3 s missed the briefer of 3-4 AMI speakers (table above)
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
    labels = _merge_similar(vectors, _fold_small(vectors, labels, _min_windows()))
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
            return _refine(vectors, merge_down(vectors, labels, k), steps=3)
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


def cohesion(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per cluster id: the mean cosine of its members to their own centroid (1 = one point)."""
    c = centroids(vectors, labels)
    return np.array([float(np.mean(vectors[labels == k] @ c[k])) for k in range(len(c))])


def _merge_similar(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Merge the most similar pair of clusters while their centroids agree at least as well as
    the looser of the two holds together (step 3 of the module's rule)."""

    def go_on(labels: np.ndarray, a: int, b: int, similarity: float) -> bool:
        spread = cohesion(vectors, labels)
        return similarity >= min(spread[a], spread[b])

    return _merge(vectors, labels, go_on)


def merge_down(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Merge the most similar pair of clusters until ``k`` are left."""
    return _merge(vectors, labels, lambda labels, a, b, similarity: labels.max() + 1 > k)


def _merge(vectors: np.ndarray, labels: np.ndarray, go_on) -> np.ndarray:
    """Merge the most similar pair of clusters while ``go_on(labels, a, b, similarity)``."""
    labels = _compact(labels)
    while labels.max() > 0:
        c = centroids(vectors, labels)
        sims = c @ c.T
        np.fill_diagonal(sims, -1)
        a, b = np.unravel_index(np.argmax(sims), sims.shape)
        if not go_on(labels, a, b, sims[a, b]):
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
