"""The advisor's word lists, loaded once from ``polymodal/advisor/data``.

Lists live in data files so they can grow without touching the rules; this module only turns
them into frozensets and phrase tuples that the rules match against lowercase word sequences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")

Phrase = tuple[str, ...]


def _words(text: str) -> Phrase:
    """A phrase as the word sequence the rules match (hyphens and punctuation dropped)."""
    cleaned = "".join(ch if ch.isalnum() or ch == "'" else " " for ch in text.lower())
    return tuple(cleaned.split())


def _phrases(items: list[str]) -> frozenset[Phrase]:
    return frozenset(_words(item) for item in items if _words(item))


@dataclass(frozen=True)
class Lexicon:
    """Every word list the rules use; see ``data/lexicon.json`` for what each one means."""

    raw: dict
    spatial_phrases: frozenset[Phrase]
    spatial_preps: frozenset[str]
    spatial_safe: frozenset[Phrase]
    attributes: frozenset[str]
    colours: frozenset[str]
    negation_words: frozenset[str]
    negation_phrases: frozenset[Phrase]
    counting_phrases: frozenset[Phrase]
    number_words: frozenset[str]
    units: frozenset[str]
    text_always: frozenset[str]
    text_unless_progressive: frozenset[str]
    text_nouns: frozenset[str]
    text_phrases: frozenset[Phrase]
    fine_nouns: frozenset[str]
    fine_wh: frozenset[str]
    fine_phrases: frozenset[Phrase]
    wh_words: frozenset[str]
    generic_adjectives: frozenset[str]
    numbered_safe: frozenset[str]
    stopwords: frozenset[str]
    determiners: frozenset[str]
    fine_names: dict[Phrase, str]
    fine_capitalised: dict[str, str]
    modified_heads: dict[str, str]
    animal_heads: frozenset[str]
    first_names: frozenset[str]
    irregular_plurals: dict[str, str]
    invariant_plurals: frozenset[str]

    @property
    def max_phrase(self) -> int:
        return max(len(p) for p in self.fine_names)


def _read_json(name: str) -> dict:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def read_lines(name: str) -> list[str]:
    """Non-empty, non-comment lines of a data file."""
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _inverted(groups: dict[str, list[str]]) -> dict[str, str]:
    return {item: category for category, items in groups.items() for item in items}


@cache
def lexicon() -> Lexicon:
    """The lexicon, read once per process."""
    lex = _read_json("lexicon.json")
    fine = _read_json("fine_grained.json")
    plurals = _read_json("plurals.json")
    s = lambda key: frozenset(lex[key])  # noqa: E731
    return Lexicon(
        raw=lex,
        spatial_phrases=_phrases(lex["spatial_phrases"]),
        spatial_preps=s("spatial_preps"),
        spatial_safe=_phrases(lex["spatial_safe_phrases"]),
        attributes=s("colours") | s("materials") | s("sizes") | s("patterns"),
        colours=s("colours"),
        negation_words=s("negation_words"),
        negation_phrases=_phrases(lex["negation_phrases"]),
        counting_phrases=_phrases(lex["counting_phrases"]),
        number_words=s("number_words"),
        units=s("units"),
        text_always=s("text_verbs_always"),
        text_unless_progressive=s("text_verbs_unless_progressive"),
        text_nouns=s("text_nouns"),
        text_phrases=_phrases(lex["text_phrases"]),
        fine_nouns=s("fine_grained_nouns"),
        fine_wh=s("fine_grained_wh"),
        fine_phrases=_phrases(lex["fine_grained_phrases"]),
        wh_words=s("wh_words"),
        generic_adjectives=s("generic_adjectives"),
        numbered_safe=s("numbered_nouns_safe"),
        stopwords=s("stopwords"),
        determiners=s("determiners"),
        fine_names={_words(k): v for k, v in _inverted(fine["names"]).items()},
        fine_capitalised=_inverted(fine["capitalised"]),
        modified_heads=_inverted(fine["modified_heads"]),
        animal_heads=frozenset(fine["animal_heads"]),
        first_names=frozenset(read_lines("first_names.txt")),
        irregular_plurals=dict(plurals["irregular"]),
        invariant_plurals=frozenset(plurals["invariant"]),
    )


def singular(word: str) -> str:
    """A plural English noun's singular, by rule plus the irregular list (no spaCy needed)."""
    lex = lexicon()
    low = word.lower()
    if low in lex.irregular_plurals:
        return lex.irregular_plurals[low]
    if low in lex.invariant_plurals or len(low) <= 3 or low.endswith(("ss", "us", "is")):
        return low
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y"
    if low.endswith(("ches", "shes", "xes", "zes", "sses")):
        return low[:-2]
    if low.endswith("s"):
        return low[:-1]
    return low
