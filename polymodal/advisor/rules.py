"""The advisor's rules: one function per limit of CLIP, each returning its evidence (or nothing).

Every rule reads an :class:`~polymodal.advisor.linguistic.Analysis`. With a parse
(``analysis.parsed``) rules use dependencies: a numeral must be a ``nummod`` of a common noun to
count things, a spatial preposition must govern an object, a colour must modify its own noun.
Without one they use word order, which is coarser; the tests hold each mode to its own bounds.
"""

from __future__ import annotations

import re

from polymodal.advisor.lexicon import Lexicon
from polymodal.advisor.linguistic import Analysis, Token

_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_NOUNS = {"NOUN", "PROPN"}


def is_number(token: Token, lex: Lexicon) -> bool:
    """A cardinal written in digits or words (not ``4K``, ``1960s``, ``two-tone`` or ``second``)."""
    if _NUMBER.match(token.lower):
        return True
    return token.lower in lex.number_words and token.pos in {"NUM", "X", "NOUN", ""}


def _is_year(token: Token) -> bool:
    return token.lower.isdigit() and len(token.lower) == 4 and 1000 <= int(token.lower) <= 2199


def _neighbour(analysis: Analysis, i: int) -> Token | None:
    return analysis.tokens[i] if 0 <= i < len(analysis.tokens) else None


def _hyphenated(analysis: Analysis, token: Token) -> bool:
    before, after = _neighbour(analysis, token.i - 1), _neighbour(analysis, token.i + 1)
    glued_before = before is not None and before.glued
    glued_after = token.glued and after is not None
    return glued_before or glued_after


# --- counting ---------------------------------------------------------------------------------


def _counting_phrases(analysis: Analysis, lex: Lexicon) -> list[str]:
    found = []
    for start, end in analysis.find(lex.counting_phrases):
        phrase = analysis.span_text(start, end)
        if phrase == "number of" and start > 0 and analysis.words[start - 1] == "a":
            continue  # "a number of reasons" means "several"
        if phrase.startswith("count") and start > 0 and analysis.words[start - 1] not in {"and"}:
            continue  # "count" as a verb only leads an instruction
        found.append(phrase)
    return found


def _compared(analysis: Analysis, token: Token, lex: Lexicon) -> bool:
    before = [t.lower for t in analysis.tokens[max(0, token.i - 2) : token.i]]
    return any(word in lex.raw["comparison_words"] for word in before)


def _designation(analysis: Analysis, token: Token) -> bool:
    """Digits right after a name are a model or version ('iPhone 14', 'PlayStation 5')."""
    before = _neighbour(analysis, token.i - 1)
    if before is None or not token.lower.isdigit():
        return False
    capitalised = any(c.isupper() for c in before.text) and not (
        before.i == 0 and before.text.istitle()
    )
    return capitalised or before.pos == "PROPN"


def _counted_noun(analysis: Analysis, token: Token, lex: Lexicon) -> Token | None:
    """The noun a numeral counts, or None when the number is a name, unit, year or code."""
    if _is_year(token) or _hyphenated(analysis, token) or _designation(analysis, token):
        return None
    if token.lower in lex.raw["count_words_need_of"]:
        return None
    if analysis.parsed:
        if token.pos != "NUM" and token.tag != "CD" and token.dep != "nummod":
            return None
        head = analysis.tokens[token.head]
        while head.i != token.i and is_number(head, lex) and head.head != head.i:
            head = analysis.tokens[head.head]
        if token.dep not in {"nummod", "quantmod", "compound"} or head.pos not in _NOUNS:
            return None
        if head.pos == "PROPN" and head.tag != "NNPS":
            return None  # "Boeing 747", "Model 3": a designation, not a count
    else:
        before = _neighbour(analysis, token.i - 1)
        if before is not None and (before.lower == "no" or any(c.isdigit() for c in before.text)):
            return None
        head = _neighbour(analysis, token.i + 1)
        while head is not None and (head.lower in lex.attributes or is_number(head, lex)):
            head = _neighbour(analysis, head.i + 1)
        if head is None or head.pos == "PUNCT":
            return None
        if head.lower in lex.stopwords and head.lower != "of":
            return None
    if head.lemma in lex.units or head.lower in lex.units or head.lower in lex.numbered_safe:
        return None
    return head


def counting(analysis: Analysis, lex: Lexicon) -> list[str]:
    """Evidence that the query asks how many of something there are."""
    evidence = _counting_phrases(analysis, lex)
    for token in analysis.tokens:
        if not is_number(token, lex):
            continue
        noun = _counted_noun(analysis, token, lex)
        if noun is not None:
            evidence.append(f"{token.text} {noun.text}")
        elif _compared(analysis, token, lex) and not _is_year(token):
            evidence.append(token.text)
    return evidence


# --- spatial ----------------------------------------------------------------------------------


def _inside(spans: list[tuple[int, int]], k: int) -> bool:
    return any(start <= k < end for start, end in spans)


def _governs_object(analysis: Analysis, k: int) -> bool:
    token = analysis.tokens[analysis.word_token[k]]
    if analysis.parsed:
        if any(c.dep in {"pobj", "pcomp", "dobj"} for c in analysis.children(token.i)):
            return True
        after = _neighbour(analysis, token.i + 1)
        return after is not None and after.pos in {"DET", "NOUN", "PROPN", "PRON", "NUM", "ADJ"}
    return k + 1 < len(analysis.words) and analysis.words[k + 1] not in {"and", "or"}


def spatial(analysis: Analysis, lex: Lexicon) -> list[str]:
    """Evidence of a relative position: left of, above, behind, next to, in the background..."""
    safe = analysis.find(lex.spatial_safe)
    evidence = [
        analysis.span_text(start, end)
        for start, end in analysis.find(lex.spatial_phrases)
        if not _inside(safe, start)
    ]
    covered = analysis.find(lex.spatial_phrases)
    for k, word in enumerate(analysis.words):
        free = not _inside(safe, k) and not _inside(covered, k)
        if word in lex.spatial_preps and free and _governs_object(analysis, k):
            evidence.append(word)
    return evidence


# --- attribute binding ------------------------------------------------------------------------


def _attribute_owner(analysis: Analysis, token: Token) -> int | None:
    """The noun a colour, material or size word describes, from the parse."""
    tokens = analysis.tokens
    while token.dep == "conj" and token.head != token.i:  # "black and white photo"
        token = tokens[token.head]
    head = tokens[token.head]
    if token.dep in {"amod", "compound", "nmod", "npadvmod"} and head.pos in _NOUNS:
        return head.i
    if token.dep in {"acomp", "attr", "oprd"}:
        subjects = [c for c in analysis.children(head.i) if c.dep in {"nsubj", "nsubjpass"}]
        if not subjects:
            return None
        if subjects[0].lower in {"that", "which", "who"} and head.dep == "relcl":
            return head.head
        return subjects[0].i
    return None


def _rule_groups(analysis: Analysis, lex: Lexicon) -> list[str]:
    """Without a parse: runs of attribute words that lead into a noun or follow 'is'."""
    groups: list[str] = []
    tokens = analysis.tokens
    i = 0
    while i < len(tokens):
        if tokens[i].lower not in lex.attributes or tokens[i].pos == "PROPN":
            i += 1
            continue
        start = i
        while i + 1 < len(tokens) and (
            tokens[i + 1].lower in lex.attributes
            or (
                tokens[i + 1].lower in {"and", ","}
                and i + 2 < len(tokens)
                and tokens[i + 2].lower in lex.attributes
            )
        ):
            i += 1
        after = _neighbour(analysis, i + 1)
        before = _neighbour(analysis, start - 1)
        leads_noun = after is not None and after.pos != "PUNCT" and after.lower not in lex.stopwords
        predicate = before is not None and before.lower in {"is", "are", "was", "were"}
        if leads_noun or predicate:
            groups.append(" ".join(t.text for t in tokens[start : i + 2]))
        i += 1
    return groups


def attribute_binding(analysis: Analysis, lex: Lexicon) -> list[str]:
    """Evidence that two or more objects each carry their own colour, material or size."""
    if not analysis.parsed:
        groups = _rule_groups(analysis, lex)
        return groups if len(groups) >= 2 else []
    owners: dict[int, list[str]] = {}
    for token in analysis.tokens:
        if token.lower in lex.attributes and token.pos != "PROPN":
            owner = _attribute_owner(analysis, token)
            if owner is not None:
                owners.setdefault(owner, []).append(token.text)
    if len(owners) < 2:
        return []
    return [f"{' '.join(words)} {analysis.tokens[i].text}" for i, words in sorted(owners.items())]


# --- negation ---------------------------------------------------------------------------------


def negation(analysis: Analysis, lex: Lexicon) -> list[str]:
    """Evidence of negation: not, no, without, nobody, nothing, never..."""
    evidence = [analysis.span_text(s, e) for s, e in analysis.find(lex.negation_phrases)]
    for token in analysis.tokens:
        if token.lower in lex.negation_words and not any(token.lower in e for e in evidence):
            evidence.append(token.text)
    return evidence


# --- text reading -----------------------------------------------------------------------------

_QUOTED = re.compile(r"[\"“”„«»](.+?)[\"“”„«»]|(?<![\w])'([^']+)'(?![\w])")


def text_reading(analysis: Analysis, lex: Lexicon) -> list[str]:
    """Evidence the query is about reading text: read, says, written, quoted words, captions."""
    evidence = [m.group(0) for m in _QUOTED.finditer(analysis.text)]
    evidence += [analysis.span_text(s, e) for s, e in analysis.find(lex.text_phrases)]
    for token in analysis.tokens:
        word = token.lower
        if word in lex.text_always or word in lex.text_unless_progressive:
            evidence.append(token.text)
        elif word in lex.text_nouns:
            if word == "writing" and (token.pos == "VERB" if analysis.parsed else token.i == 0):
                continue  # "a person writing a letter" is an activity
            evidence.append(token.text)
    return evidence
