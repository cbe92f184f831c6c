"""``diagnose``: why CLIP scores an image the way it does for a query, and what to try instead.

It measures the image-query cosine, how the query ranks against the advisor's automatic
rephrasings and against the nearest competing labels, the margin to the best competitor, and
the advisor words that as warnings and suggestions together with its verdicts on the query.
The numbers come from the vision room, the words from the advisor; this step joins them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.advisor.check import QueryCheck, check_query
from polymodal.advisor.diagnosis import (
    COMPETITOR_TEMPLATE,
    LOW_SCORE,
    Scored,
    competitor_labels,
    rephrasings,
    suggest,
)
from polymodal.errors import BadInputError
from polymodal.vision import embed
from polymodal.vision.embed import ModelRef


@dataclass(frozen=True)
class Diagnosis:
    """Everything ``polymodal diagnose`` reports about one image and one query."""

    image: str
    query: str
    score: float
    probability: float
    rephrasings: tuple[Scored, ...]
    rephrasing_rank: int
    competitors: tuple[Scored, ...]
    competitor_rank: int
    margin: float
    low_score: bool
    warnings: tuple[str, ...]
    suggestions: tuple[str, ...]
    check: QueryCheck


def _image_vector(image: str | os.PathLike[str], encoder: object) -> np.ndarray:
    embedded = embed.embed_images([image], model=encoder)
    if embedded.failures or len(embedded.vectors) == 0:
        reason = embedded.failures[0].reason if embedded.failures else f"'{image}' gave no vector."
        raise BadInputError(reason, param="image")
    return np.asarray(embedded.vectors[0], dtype=np.float32)


def _ranked(texts: Sequence[str], scores: np.ndarray) -> list[Scored]:
    pairs = (Scored(t, float(s)) for t, s in zip(texts, scores, strict=True))
    return sorted(pairs, key=lambda s: -s.score)


def diagnose(
    image: str | os.PathLike[str],
    query: str,
    *,
    model: ModelRef = None,
    competitors: Sequence[str] | None = None,
    top: int = 5,
) -> Diagnosis:
    """Diagnose CLIP's score of ``image`` for ``query``: ranks, margin, warnings, suggestions.

    ``model``: a CLIP name, a folder or a loaded encoder (its ``logit_scale`` turns the scores
    into a probability, so a model that cannot load is the catalogue's error, not a guess).
    """
    if not query or not query.strip():
        raise BadInputError("The query is empty: give the text to diagnose.", param="query")
    encoder = embed.get_encoder(model)
    vector = _image_vector(image, encoder)
    variants = rephrasings(query)
    rivals = competitor_labels(query, competitors)
    prompts = [COMPETITOR_TEMPLATE.format(r) for r in rivals]
    texts = embed.embed_texts([query, *variants, *prompts], model=encoder)
    scores = np.asarray(texts, dtype=np.float32) @ vector
    score = float(scores[0])
    phrased = _ranked(variants, scores[1 : 1 + len(variants)])
    rival_scores = scores[1 + len(variants) :]
    ranked = _ranked(rivals, rival_scores)
    logits = float(encoder.logit_scale) * np.concatenate([[score], rival_scores])
    weights = np.exp(logits - logits.max())
    best = phrased[0] if phrased else Scored(query, score)
    rival = ranked[0] if ranked else Scored("", float("-inf"))
    margin = score - rival.score if ranked else 0.0
    check = check_query(query)
    warnings, suggestions = suggest(query, score, best, rival, margin, check)
    return Diagnosis(
        image=str(image),
        query=query,
        score=round(score, 4),
        probability=round(float(weights[0] / weights.sum()), 4),
        rephrasings=tuple(phrased),
        rephrasing_rank=1 + sum(s.score > score for s in phrased),
        competitors=tuple(ranked[:top]),
        competitor_rank=1 + sum(s.score > score for s in ranked),
        margin=round(margin, 4),
        low_score=score < LOW_SCORE,
        warnings=tuple(warnings),
        suggestions=tuple(dict.fromkeys(suggestions)),
        check=check,
    )
