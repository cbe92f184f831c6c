"""Which noun a counting query counts: 'how many dogs are there' -> 'dog'.

The parse gives it directly (the noun ``many`` or a numeral modifies, the object of ``count``, the
object of ``number of``); without one, the first content word after the cue stands in.
"""

from __future__ import annotations

from collections.abc import Callable

from polymodal.advisor import rules
from polymodal.advisor.lexicon import Lexicon, singular
from polymodal.advisor.linguistic import Analysis, Token

NounPhrase = Callable[[Analysis, Token], str]
_NOUNS = {"NOUN", "PROPN"}


def _parsed_target(analysis: Analysis, lex: Lexicon) -> Token | None:
    tokens = analysis.tokens
    for token in tokens:
        before = tokens[token.i - 1].lower if token.i > 0 else ""
        head = tokens[token.head]
        if token.lower == "many" and before == "how" and head.pos in _NOUNS:
            return head
        if token.lower == "number":
            for prep in analysis.children(token.i):
                objects = [c for c in analysis.children(prep.i) if c.dep == "pobj"]
                if prep.lower == "of" and objects:
                    return objects[0]
        if token.lemma == "count" and token.pos == "VERB":
            objects = [c for c in analysis.children(token.i) if c.dep == "dobj"]
            if objects and objects[0].pos in _NOUNS:
                return objects[0]
    for token in tokens:
        if rules.is_number(token, lex):
            noun = rules._counted_noun(analysis, token, lex)
            if noun is not None:
                return noun
    return None


_CUES = (("how", "many"), ("number", "of"), ("count", "the"), ("count", "all"), ("count",))


def _cue_end(words: tuple[str, ...], lex: Lexicon) -> int | None:
    for k in range(len(words)):
        for cue in _CUES:
            if tuple(words[k : k + len(cue)]) == cue:
                return k + len(cue)
        if words[k].isdigit() or words[k] in lex.number_words:
            return k + 1
    return None


def _word_target(analysis: Analysis, lex: Lexicon) -> str | None:
    words = analysis.words
    k = _cue_end(words, lex)
    if k is None:
        return None
    skip = lex.determiners | lex.attributes | lex.generic_adjectives | lex.number_words
    skip |= {"of", "than", "more", "fewer", "less", "exactly", "at", "least", "most", "are", "is"}
    while k < len(words) and (words[k] in skip or words[k].isdigit()):
        k += 1
    if k >= len(words):
        return None
    first = words[k]
    if k + 1 < len(words):
        second = words[k + 1]
        plural_next = second.endswith("s") and not second.endswith("ss")
        if plural_next and singular(first) == first and second not in lex.stopwords:
            return f"{first} {singular(second)}"
    return singular(first)


def find_target(analysis: Analysis, lex: Lexicon, noun_phrase: NounPhrase) -> str | None:
    """The counted noun in singular form (with compounds: 'traffic light'), or None."""
    if analysis.parsed:
        noun = _parsed_target(analysis, lex)
        if noun is not None:
            return noun_phrase(analysis, noun)
    return _word_target(analysis, lex)
