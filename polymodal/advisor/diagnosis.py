"""``diagnose``: why CLIP scores an image the way it does for a query, and what to try instead.

It measures the image-query cosine, how the query ranks against automatic rephrasings (a template,
singular/plural) and against the nearest competing labels (a built-in vocabulary of common
concepts plus the caller's competitors), the margin to the best competitor, and turns that into
concrete suggestions together with the advisor's verdicts on the query.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from polymodal.advisor.check import QueryCheck, check_query
from polymodal.advisor.lexicon import read_lines, singular
from polymodal.errors import BadInputError

#: Below this cosine a CLIP ViT-B match is weak: matching captions typically score 0.25-0.35.
LOW_SCORE = 0.2
COMPETITOR_TEMPLATE = "a photo of a {}"
_LEADS = ("a photo of ", "a picture of ", "an image of ", "a ", "an ", "the ")


@dataclass(frozen=True)
class Scored:
    """A text and its cosine similarity with the image."""

    text: str
    score: float


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


@cache
def vocabulary() -> tuple[str, ...]:
    """The built-in competing labels (``data/labels.txt``)."""
    return tuple(read_lines("labels.txt"))


def _core(query: str) -> str:
    core = query.strip().rstrip(".").strip()
    changed = True
    while changed:
        changed = False
        for lead in _LEADS:
            if core.lower().startswith(lead) and len(core) > len(lead):
                core, changed = core[len(lead) :], True
    return core


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _plural(core: str) -> str:
    words = core.split()
    last = words[-1]
    if singular(last) != last.lower():
        return core
    if last.endswith(("s", "x", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return " ".join([*words[:-1], plural])


def rephrasings(query: str) -> list[str]:
    """Automatic rephrasings of ``query`` (templates, singular/plural), without the query itself."""
    core = _core(query)
    words = core.split()
    single = " ".join([*words[:-1], singular(words[-1])]) if words else core
    out = []
    for template in read_lines("rephrasings.txt"):
        for base in dict.fromkeys([core, single]):
            text = template.replace("{a}", _article(base)).replace("{plural}", _plural(base))
            out.append(text.replace("{}", base))
    seen = {query.strip().lower()}
    unique = []
    for text in out:
        if text.lower() not in seen:
            seen.add(text.lower())
            unique.append(text)
    return unique


def _competitor_labels(query: str, competitors: Sequence[str] | None) -> list[str]:
    core = _core(query).lower()
    own = {core, singular(core)}
    labels = [c.strip() for c in (competitors or []) if c.strip()]
    labels += [v for v in vocabulary() if v.lower() not in own]
    return list(dict.fromkeys(labels))


def _image_vector(image: Any, model: Any) -> tuple[np.ndarray, str]:
    from polymodal.vision import embed_images

    embedded = embed_images([image], model=model)
    if embedded.failures or len(embedded.vectors) == 0:
        reason = embedded.failures[0].reason if embedded.failures else f"'{image}' gave no vector."
        raise BadInputError(reason)
    return np.asarray(embedded.vectors[0], dtype=np.float32), str(image)


def _logit_scale(model: Any) -> float:
    try:
        from polymodal.vision import get_encoder

        return float(get_encoder(model).logit_scale)
    except Exception:  # a stand-in encoder in tests, or an encoder without the attribute
        return 100.0


def _suggest(
    query: str, score: float, best: Scored, rival: Scored, margin: float, check: QueryCheck
) -> tuple[list[str], list[str]]:
    warnings, suggestions = [], []
    if score < LOW_SCORE:
        warnings.append(
            f"Low similarity ({score:.3f} < {LOW_SCORE}): CLIP does not see '{query}' clearly here."
        )
        suggestions.append(
            "Try a broader or more descriptive label (what the whole picture shows), "
            f"for example '{COMPETITOR_TEMPLATE.format(_core(query))}' or a scene description."
        )
    if best.score > score:
        suggestions.append(f"Rephrase as '{best.text}' (cosine {best.score:.3f} vs {score:.3f}).")
    if margin < 0:
        warnings.append(
            f"CLIP prefers the competing label '{rival.text}' ({rival.score:.3f}) by {-margin:.3f}."
        )
        suggestions.append(
            f"Add '{rival.text}' as a competing label, or describe what tells them apart."
        )
    for verdict in check.limits:
        warnings.append(f"{verdict.kind}: {verdict.reason}")
        suggestions.append(verdict.alternative)
    return warnings, suggestions


def diagnose(
    image: str | os.PathLike[str],
    query: str,
    *,
    model: str | os.PathLike[str] | None = None,
    competitors: Sequence[str] | None = None,
    top: int = 5,
) -> Diagnosis:
    """Diagnose CLIP's score of ``image`` for ``query``: ranks, margin, warnings, suggestions."""
    from polymodal.vision import embed_texts

    if not query or not query.strip():
        raise BadInputError("The query is empty: give the text to diagnose.")
    vector, name = _image_vector(image, model)
    variants = rephrasings(query)
    rivals = _competitor_labels(query, competitors)
    prompts = [COMPETITOR_TEMPLATE.format(r) for r in rivals]
    texts = np.asarray(embed_texts([query, *variants, *prompts], model=model), dtype=np.float32)
    scores = texts @ vector
    score = float(scores[0])
    phrased = sorted(
        (Scored(t, float(s)) for t, s in zip(variants, scores[1 : 1 + len(variants)], strict=True)),
        key=lambda s: -s.score,
    )
    rival_scores = scores[1 + len(variants) :]
    ranked = sorted(
        (Scored(r, float(s)) for r, s in zip(rivals, rival_scores, strict=True)),
        key=lambda s: -s.score,
    )
    logits = _logit_scale(model) * np.concatenate([[score], rival_scores])
    weights = np.exp(logits - logits.max())
    best = phrased[0] if phrased else Scored(query, score)
    rival = ranked[0] if ranked else Scored("", float("-inf"))
    margin = score - rival.score if ranked else 0.0
    check = check_query(query)
    warnings, suggestions = _suggest(query, score, best, rival, margin, check)
    return Diagnosis(
        image=name,
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
