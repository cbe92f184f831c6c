"""Mapping what a user writes ('people', 'automobiles', 'puppies') to a detector's labels.

The detector knows a fixed label set (COCO's 80 for DETR). A query's noun is lemmatised, then
matched exactly, through the synonyms in ``data/detector_labels.json``, or by its last word
('police car' -> car). An unknown noun is an error that lists the closest labels, because a
silent zero would read as "there are none".
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import cache

from polymodal.advisor.lexicon import DATA_DIR, lexicon, singular
from polymodal.errors import BadInputError

_ARTICLES = {"a", "an", "the", "some", "any", "all", "of"}


@cache
def _synonyms() -> dict[str, str]:
    """synonym -> canonical COCO label, from the data file."""
    data = json.loads((DATA_DIR / "detector_labels.json").read_text(encoding="utf-8"))
    table: dict[str, str] = {}
    for label, words in data.items():
        if label.startswith("_"):
            continue
        for word in [label, *words]:
            table.setdefault(word.lower(), label)
    return table


def _forms(noun: str) -> list[str]:
    """The noun as written, singularised (last word), and its last word alone."""
    words = [w for w in noun.lower().replace("-", " ").split() if w not in _ARTICLES]
    if not words:
        return []
    single = [*words[:-1], singular(words[-1])]
    forms = [" ".join(words), " ".join(single), single[-1], words[-1]]
    lemma = lexicon().irregular_plurals.get(words[-1])
    if lemma:
        forms.append(lemma)
    return list(dict.fromkeys(forms))


def map_label(noun: str, labels: Iterable[str]) -> str:
    """The detector label for ``noun``; :class:`BadInputError` naming close labels if none fits."""
    available = {label.lower(): label for label in labels if label and label != "N/A"}
    synonyms = _synonyms()
    for form in _forms(noun):
        if form in available:
            return available[form]
        canonical = synonyms.get(form)
        if canonical and canonical.lower() in available:
            return available[canonical.lower()]
    if not _forms(noun):
        raise BadInputError("Give a noun to count, for example 'cars' or 'people'.", param="noun")
    close = difflib.get_close_matches(_forms(noun)[0], list(available), n=5, cutoff=0.5)
    hint = f" Close labels: {', '.join(available[c] for c in close)}." if close else ""
    raise BadInputError(
        f"The detector has no label for '{noun}'.{hint} "
        f"It knows {len(available)} labels, for example: {', '.join(sorted(available)[:12])}.",
        param="noun",
    )
