"""The text half of a diagnosis: rephrasings of a query, its competing labels, and advice.

:func:`polymodal.diagnose` (in :mod:`polymodal.tasks.diagnose`) measures the image-query
cosine, how the query ranks against the automatic rephrasings made here (a template,
singular/plural) and against the nearest competing labels (a built-in vocabulary of common
concepts plus the caller's competitors), and the margin to the best competitor; :func:`suggest`
turns those numbers into concrete suggestions together with the advisor's verdicts. Nothing
here touches an image or a model: the advisor stays pure text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from polymodal.advisor.check import QueryCheck
from polymodal.advisor.lexicon import read_lines, singular

#: Below this cosine a CLIP ViT-B match is weak: matching captions typically score 0.25-0.35.
LOW_SCORE = 0.2
COMPETITOR_TEMPLATE = "a photo of a {}"
_LEADS = ("a photo of ", "a picture of ", "an image of ", "a ", "an ", "the ")


@dataclass(frozen=True)
class Scored:
    """A text and its cosine similarity with the image."""

    text: str
    score: float


@cache
def vocabulary() -> tuple[str, ...]:
    """The built-in competing labels (``data/labels.txt``)."""
    return tuple(read_lines("labels.txt"))


def core_of(query: str) -> str:
    """The query without leading articles and "a photo of": the words that name the thing."""
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
    core = core_of(query)
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


def competitor_labels(query: str, competitors: Sequence[str] | None) -> list[str]:
    """The caller's competitors, then the built-in vocabulary, minus the query's own noun."""
    core = core_of(query).lower()
    own = {core, singular(core)}
    labels = [c.strip() for c in (competitors or []) if c.strip()]
    labels += [v for v in vocabulary() if v.lower() not in own]
    return list(dict.fromkeys(labels))


def suggest(
    query: str, score: float, best: Scored, rival: Scored, margin: float, check: QueryCheck
) -> tuple[list[str], list[str]]:
    """Warnings and suggestions from a query's cosine ``score``, its ``best`` rephrasing, its
    strongest ``rival`` label and the ``margin`` to it, and the advisor's ``check``."""
    warnings, suggestions = [], []
    if score < LOW_SCORE:
        warnings.append(
            f"Low similarity ({score:.3f} < {LOW_SCORE}): CLIP does not see '{query}' clearly here."
        )
        suggestions.append(
            "Try a broader or more descriptive label (what the whole picture shows), "
            f"for example '{COMPETITOR_TEMPLATE.format(core_of(query))}' or a scene description."
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
