"""Screening images for unsafe content with CLIP: a first pass for a human, not a verdict.

Each safety category is a set of descriptive prompts ("a photo of a gun") contrasted with
neutral look-alikes ("a photo of a power drill") and a shared pool of everyday prompts. The
category's score is CLIP's zero-shot probability that the image fits one of its prompts rather
than any contrast: a softmax over all of them at the model's logit scale, summed over the
category's own prompts. Categories, prompts and thresholds live in ``data/moderation.toml`` and
can be changed with a user file (see that file's header for the rules).

CLIP has well-documented blind spots and biases; its scores are uncalibrated. Use the flags
to order images for human review, never to make a decision about a person on their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.progress import CancelToken, ProgressCallback
from polymodal.vision import embed
from polymodal.vision.embed import Failure, ModelRef
from polymodal.vision.files import PathLike, image_files
from polymodal.vision.moderation_config import Category, ModerationConfig, load_categories
from polymodal.vision.prompts import softmax
from polymodal.vision.records import require_readable

NOTICE = (
    "Screening aid only: CLIP zero-shot scores are uncalibrated and biased, and they miss "
    "things. Use flags to prioritise human review, not as a classifier of record."
)


@dataclass(frozen=True)
class CategoryScore:
    """One category's score for one image, its threshold, and the prompt that matched best."""

    category: str
    score: float
    threshold: float
    flagged: bool
    best_prompt: str


@dataclass(frozen=True)
class ImageModeration:
    """One image's verdict: flagged if any category is; scores in the configured order."""

    path: str
    flagged: bool
    flagged_categories: tuple[str, ...]
    scores: tuple[CategoryScore, ...]


@dataclass(frozen=True)
class ModerationResult:
    """Every image's scores, the files that failed, and the screening notice to show users."""

    items: tuple[ImageModeration, ...]
    failures: tuple[Failure, ...]
    categories: tuple[str, ...]
    model_id: str
    notice: str = NOTICE

    def __iter__(self) -> Iterator[ImageModeration]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def flagged(self) -> tuple[ImageModeration, ...]:
        return tuple(item for item in self.items if item.flagged)


def _prompt_table(config: ModerationConfig) -> list[str]:
    texts: list[str] = list(config.neutral)
    for category in config.categories:
        texts += [*category.prompts, *category.contrast]
    return list(dict.fromkeys(texts))


def _own_scores(
    category: Category,
    similarities: np.ndarray,
    column: dict[str, int],
    neutral: Sequence[str],
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(score per image, index of best own prompt per image) for one category."""
    own = [column[t] for t in category.prompts]
    others = [column[t] for t in dict.fromkeys([*category.contrast, *neutral])]
    others = [c for c in others if c not in own]
    probabilities = softmax(scale * similarities[:, own + others])
    scores = probabilities[:, : len(own)].sum(axis=1)
    return scores, probabilities[:, : len(own)].argmax(axis=1)


def score_categories(
    similarities: np.ndarray,
    texts: Sequence[str],
    config: ModerationConfig,
    scale: float,
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per category: (scores of every image, best-matching prompt of every image).

    ``similarities`` is (images, texts) cosine against ``texts``. Combined categories
    (``with_any``) take the smaller of their own score and their partners' highest.
    """
    column = {text: i for i, text in enumerate(texts)}
    results: dict[str, tuple[np.ndarray, list[str]]] = {}
    for category in config.categories:
        scores, best = _own_scores(category, similarities, column, config.neutral, scale)
        results[category.name] = (scores, [category.prompts[b] for b in best])
    for category in config.categories:
        if category.with_any:
            partners = np.max([results[name][0] for name in category.with_any], axis=0)
            own, prompts = results[category.name]
            results[category.name] = (np.minimum(own, partners), prompts)
    return results


def _verdict(path: str, index: int, config: ModerationConfig, scored: dict) -> ImageModeration:
    scores = []
    for category in config.categories:
        values, prompts = scored[category.name]
        score = float(values[index])
        scores.append(
            CategoryScore(
                category=category.name,
                score=round(score, 4),
                threshold=category.threshold,
                flagged=score >= category.threshold,
                best_prompt=prompts[index],
            )
        )
    flagged = tuple(s.category for s in scores if s.flagged)
    return ImageModeration(path, bool(flagged), flagged, tuple(scores))


def moderate(
    images: PathLike | Sequence[PathLike],
    *,
    model: ModelRef = None,
    categories_file: PathLike | None = None,
    cache: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ModerationResult:
    """Score images (files or folders) against the safety categories; flag those over threshold.

    ``categories_file``: a TOML file that changes or adds categories (see
    ``data/moderation.toml``). Bad image files land in ``failures``; the rest completes
    (``BadInputError`` when not one can be read). The result's ``notice`` says what the
    scores are worth: show it with them. ``model``: a name, a folder or a loaded encoder;
    ``cancel`` stops the work between batches.
    """
    config = load_categories(categories_file)
    texts = _prompt_table(config)
    encoder = embed.get_encoder(model)
    text_vectors = embed.embed_texts(texts, model=encoder, cache=cache)
    files = image_files(images)
    embedded = embed.embed_images(
        files, model=encoder, cache=cache, progress=progress, cancel=cancel
    )
    require_readable(embedded.failures, len(embedded.paths))
    scale = float(encoder.logit_scale)
    scored = score_categories(embedded.vectors @ text_vectors.T, texts, config, scale)
    items = tuple(_verdict(path, i, config, scored) for i, path in enumerate(embedded.paths))
    return ModerationResult(
        items=items,
        failures=embedded.failures,
        categories=tuple(c.name for c in config.categories),
        model_id=embedded.model_id,
    )
