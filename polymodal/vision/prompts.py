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
from pathlib import Path

import numpy as np

from polymodal.errors import BadInputError
from polymodal.vectors import unit_rows
from polymodal.vision import embed
from polymodal.vision.embed import ModelRef

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
                "or a template containing '{}'.",
                param="templates",
            )
        templates = [templates]
    chosen = tuple(templates)
    if not chosen:
        raise BadInputError("The list of prompt templates is empty.", param="templates")
    for template in chosen:
        if template.count("{}") != 1:
            raise BadInputError(
                f"Prompt template '{template}' must contain '{{}}' exactly once "
                "(where the label goes).",
                param="templates",
            )
    return chosen


def clean_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Labels stripped of spaces, blanks dropped, repeats removed (first kept), in order."""
    if isinstance(labels, str):
        raise BadInputError("The labels must be a list of labels, not one string.", param="labels")
    cleaned = tuple(dict.fromkeys(label.strip() for label in labels if label and label.strip()))
    if not cleaned:
        raise BadInputError("No labels given: pass at least one non-empty label.", param="labels")
    return cleaned


def label_vectors(
    labels: Sequence[str],
    templates: Sequence[str],
    *,
    model: ModelRef = None,
    cache: bool = True,
) -> np.ndarray:
    """(L, dim) unit vectors: each label's template embeddings averaged, then renormalised.

    All prompts go through one :func:`embed.embed_texts` call, so they are batched and cached.
    """
    prompts = [template.format(label) for label in labels for template in templates]
    vectors = embed.embed_texts(prompts, model=model, cache=cache)
    means = vectors.reshape(len(labels), len(templates), -1).mean(axis=1)
    return unit_rows(means)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits (CLIP's scale is 100)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def read_labels(
    text: str | None = None,
    file: str | os.PathLike[str] | None = None,
    *,
    param: str = "labels",
    comments: bool = True,
) -> list[str]:
    """Labels (or texts) from a comma-separated string and/or a file with one per line.

    The one parser behind every "labels or a labels file" input (CLI options, a form field):
    blanks are dropped, and with ``comments`` so are lines starting with ``#``. Returns the
    items in order, repeats kept (:func:`clean_labels` removes them where a task must). A file
    that does not exist is a :class:`BadInputError` naming ``param`` + ``"_file"``.
    """
    found = [item.strip() for item in (text or "").split(",") if item.strip()]
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise BadInputError(f"The file '{path}' does not exist.", param=f"{param}_file")
        lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
        found += [line for line in lines if line and not (comments and line.startswith("#"))]
    return found
