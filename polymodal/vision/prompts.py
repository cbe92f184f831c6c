"""Turning labels into text embeddings: prompt templates and template ensembles.

CLIP was trained on captions, not single words, so "a photo of a cat." matches a cat photo
better than "cat". The CLIP paper goes further and averages a label's embeddings over many
templates ("a bad photo of a {}.", "a sketch of the {}." ...), which makes the label vector
less sensitive to any one phrasing. Templates live in ``data/templates.toml``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np

from polymodal.errors import BadInputError
from polymodal.vision import embed

#: Named template sets accepted wherever ``templates`` is: see ``data/templates.toml``.
TEMPLATE_SETS = ("default", "ensemble", "ensemble7")

Templates = str | Sequence[str] | None


@cache
def _template_file() -> dict[str, object]:
    text = resources.files("polymodal.vision").joinpath("data/templates.toml").read_text("utf-8")
    return tomllib.loads(text)


def resolve_templates(templates: Templates = None) -> tuple[str, ...]:
    """``None``/"default", "ensemble", "ensemble7" or a list of templates, each with one "{}"."""
    if templates is None or templates == "default":
        return (str(_template_file()["default"]),)
    if isinstance(templates, str):
        if templates in TEMPLATE_SETS:
            return tuple(_template_file()[templates])  # type: ignore[arg-type]
        if "{}" not in templates:
            raise BadInputError(
                f"Unknown template set '{templates}': use one of {', '.join(TEMPLATE_SETS)}, "
                "or a template containing '{}'."
            )
        templates = [templates]
    chosen = tuple(templates)
    if not chosen:
        raise BadInputError("The list of prompt templates is empty.")
    for template in chosen:
        if template.count("{}") != 1:
            raise BadInputError(
                f"Prompt template '{template}' must contain '{{}}' exactly once "
                "(where the label goes)."
            )
    return chosen


def clean_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Labels stripped of spaces, blanks dropped, repeats removed (first kept), in order."""
    if isinstance(labels, str):
        raise BadInputError("labels must be a list of labels, not one string.")
    cleaned = tuple(dict.fromkeys(label.strip() for label in labels if label and label.strip()))
    if not cleaned:
        raise BadInputError("No labels given: pass at least one non-empty label.")
    return cleaned


def label_vectors(
    labels: Sequence[str],
    templates: Sequence[str],
    *,
    model: str | os.PathLike[str] | None = None,
    cache: bool = True,
) -> np.ndarray:
    """(L, dim) unit vectors: each label's template embeddings averaged, then renormalised.

    All prompts go through one :func:`embed.embed_texts` call, so they are batched and cached.
    """
    prompts = [template.format(label) for label in labels for template in templates]
    vectors = embed.embed_texts(prompts, model=model, cache=cache)
    means = vectors.reshape(len(labels), len(templates), -1).mean(axis=1)
    return normalise(means)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits (CLIP's scale is 100)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)
