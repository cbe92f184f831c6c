"""Zero-shot classification: which of the user's labels fits each image, and how well.

Two questions users ask, answered differently:

* **single-label** (default): "which one of these is it?" Each label's similarity is multiplied
  by the model's logit scale (100 for OpenAI CLIP) and softmaxed across the labels, as CLIP was
  trained. Probabilities sum to 1 over the labels given, so they say which label fits *best*,
  not whether any fits: a dog photo classified as ``cat, car`` still gets a confident winner.
  ``thresholds`` here are minimum probabilities; below it the image gets no prediction.
* **multi-label**: "which of these tags apply?" Each label is judged on its own by its raw
  cosine similarity against a threshold (default :data:`DEFAULT_MULTI_LABEL_THRESHOLD`).

The cosine scale, for OpenAI CLIP ViT-B models with "a photo of a {}.": an image and a caption
that matches it usually score 0.25-0.35, an unrelated caption 0.10-0.20. Other checkpoints
shift these ranges, so tune per-label thresholds on a few of your own images.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.errors import BadInputError
from polymodal.progress import CancelToken, ProgressCallback
from polymodal.vision import embed
from polymodal.vision.embed import Failure, ModelRef
from polymodal.vision.files import PathLike, image_files
from polymodal.vision.prompts import (
    Templates,
    clean_labels,
    label_vectors,
    resolve_templates,
    softmax,
)
from polymodal.vision.records import require_readable

#: Default cosine similarity a label needs in multi-label mode (OpenAI CLIP ViT-B scale).
DEFAULT_MULTI_LABEL_THRESHOLD = 0.25

Thresholds = float | Mapping[str, float] | None


@dataclass(frozen=True)
class LabelScore:
    """A label's fit to one image.

    ``probability``: softmax share among the labels given (sums to 1 per image).
    ``similarity``: raw cosine of image and label embeddings. ``selected``: the label passed
    the decision rule (top label over the probability threshold, or similarity over the
    multi-label threshold).
    """

    label: str
    probability: float
    similarity: float
    selected: bool


@dataclass(frozen=True)
class ImageLabels:
    """One image's labels, best first (cut to ``top_k``), and the labels predicted for it."""

    path: str
    scores: tuple[LabelScore, ...]
    predicted: tuple[str, ...]

    @property
    def top(self) -> LabelScore | None:
        return self.scores[0] if self.scores else None


@dataclass(frozen=True)
class ClassificationResult:
    """Every image's labels, the files that failed, and how they were scored.

    CLIP's answer alone: :func:`polymodal.classify` (in :mod:`polymodal.tasks.classify`) adds
    the advisor's warnings on the labels and the detector's counts to it.
    """

    items: tuple[ImageLabels, ...]
    failures: tuple[Failure, ...]
    labels: tuple[str, ...]
    templates: tuple[str, ...]
    multi_label: bool
    model_id: str
    logit_scale: float

    def __iter__(self) -> Iterator[ImageLabels]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _threshold_map(
    thresholds: Thresholds, labels: Sequence[str], multi_label: bool
) -> dict[str, float | None]:
    """Each label's threshold: a mapping's value, else the single value, else the default."""
    default: float | None = DEFAULT_MULTI_LABEL_THRESHOLD if multi_label else None
    per_label: Mapping[str, float] = {}
    if isinstance(thresholds, Mapping):
        unknown = sorted(set(thresholds) - set(labels) - {"*"})
        if unknown:
            raise BadInputError(
                f"Thresholds name labels that are not being classified: {', '.join(unknown)}.",
                param="thresholds",
            )
        per_label = thresholds
        default = per_label.get("*", default)
    elif thresholds is not None:
        default = float(thresholds)
    chosen = {label: per_label.get(label, default) for label in labels}
    low, high = (-1.0, 1.0) if multi_label else (0.0, 1.0)
    scale = "a cosine similarity" if multi_label else "a probability"
    for label, value in chosen.items():
        if value is not None and not low <= value <= high:
            raise BadInputError(
                f"Threshold {value} for '{label}' is out of range: in this mode it is "
                f"{scale}, between {low:g} and {high:g}.",
                param="thresholds",
            )
    return chosen


def score_images(
    image_vectors: np.ndarray,
    text_vectors: np.ndarray,
    logit_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, probabilities), both (N images, L labels), from unit vectors."""
    similarities = image_vectors @ text_vectors.T
    return similarities, softmax(logit_scale * similarities)


def _rank(
    path: str,
    labels: Sequence[str],
    similarities: np.ndarray,
    probabilities: np.ndarray,
    thresholds: Mapping[str, float | None],
    multi_label: bool,
    top_k: int | None,
) -> ImageLabels:
    order = np.argsort(-similarities, kind="stable")[:top_k]
    scores = []
    for rank, index in enumerate(order):
        label = labels[index]
        limit = thresholds[label]
        if multi_label:
            selected = limit is None or similarities[index] >= limit
        else:
            selected = rank == 0 and (limit is None or probabilities[index] >= limit)
        scores.append(
            LabelScore(
                label=label,
                probability=float(probabilities[index]),
                similarity=float(similarities[index]),
                selected=bool(selected),
            )
        )
    predicted = tuple(s.label for s in scores if s.selected)
    return ImageLabels(path=path, scores=tuple(scores), predicted=predicted)


def check_options(
    labels: Sequence[str],
    multi_label: bool,
    thresholds: Thresholds,
    top_k: int | None,
) -> tuple[tuple[str, ...], dict[str, float | None]]:
    """The cleaned labels and each label's threshold; every option checked before work."""
    chosen = clean_labels(labels)
    if not multi_label and len(chosen) < 2:
        raise BadInputError(
            "Single-label classification needs at least two labels to choose between; "
            "pass more labels, or use multi-label mode to test one label on its own.",
            param="labels",
        )
    if top_k is not None and top_k < 1:
        raise BadInputError(f"top_k must be at least 1, got {top_k}.", param="top_k")
    return chosen, _threshold_map(thresholds, chosen, multi_label)


def classify(
    images: PathLike | Sequence[PathLike],
    labels: Sequence[str],
    *,
    model: ModelRef = None,
    templates: Templates = None,
    multi_label: bool = False,
    thresholds: Thresholds = None,
    top_k: int | None = None,
    cache: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ClassificationResult:
    """Classify image files (or the images in folders) against ``labels`` with CLIP, zero-shot.

    ``templates``: ``None`` ("a photo of a {}."), ``"ensemble"`` (the CLIP paper's 80,
    averaged), ``"ensemble7"`` (its best 7) or your own list, each with one ``{}``.
    ``multi_label``: judge each label on its own (cosine vs. threshold) instead of choosing
    one. ``thresholds``: one value for all labels or a per-label mapping (key ``"*"`` for the
    rest); a probability in single-label mode, a cosine in multi-label mode (module notes).
    ``top_k``: keep the k best labels per image. Bad image files land in ``failures``; the
    rest completes (``BadInputError`` when not one can be read). Image and label embeddings
    both come from the persistent cache when ``cache`` is on. ``model``: a name, a folder or
    a loaded encoder. This is CLIP's answer alone; :func:`polymodal.classify` adds the
    advisor's warnings and the detector's counts.
    """
    chosen, limits = check_options(labels, multi_label, thresholds, top_k)
    prompt_templates = resolve_templates(templates)
    encoder = embed.get_encoder(model)
    text_vectors = label_vectors(chosen, prompt_templates, model=encoder, cache=cache)
    files = image_files(images)
    embedded = embed.embed_images(
        files, model=encoder, cache=cache, progress=progress, cancel=cancel
    )
    require_readable(embedded.failures, len(embedded.paths))
    scale = float(encoder.logit_scale)
    similarities, probabilities = score_images(embedded.vectors, text_vectors, scale)
    items = tuple(
        _rank(path, chosen, similarities[i], probabilities[i], limits, multi_label, top_k)
        for i, path in enumerate(embedded.paths)
    )
    return ClassificationResult(
        items=items,
        failures=embedded.failures,
        labels=chosen,
        templates=prompt_templates,
        multi_label=multi_label,
        model_id=embedded.model_id,
        logit_scale=scale,
    )
