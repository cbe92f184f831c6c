"""The fine-grained rule: specific people, breeds, species, makes, models and product versions.

CLIP tells a dog from a cat but not a Beagle from a Harrier or a Boeing 737 from a 757. Each
finding carries the broader category CLIP does handle ("dog", "airplane"), so the advisor can
suggest it.
"""

from __future__ import annotations

import itertools
import re

from polymodal.advisor.lexicon import Lexicon, singular
from polymodal.advisor.linguistic import Analysis, Token

# A model code: A320, M3, S21, F-150, RTX3080 (letters first, so 4K and 3D are not codes).
_CODE = re.compile(r"^[A-Z][A-Za-z]{0,3}-?\d{1,4}[A-Za-z]{0,3}$")
_MODIFIER_DEPS = {"amod", "compound", "nmod"}

Finding = tuple[str, str | None]  # (evidence, broader category)


def _names(analysis: Analysis, lex: Lexicon) -> list[Finding]:
    found: list[Finding] = []
    longest = lex.max_phrase
    names = frozenset(lex.fine_names)
    for start, end in analysis.find(names, longest):
        phrase = tuple(analysis.words[start:end])
        found.append((" ".join(phrase), lex.fine_names[phrase]))
    if not found:  # plural names: "two golden retrievers", "three Boeing 747s"
        singular_words = tuple(singular(w) for w in analysis.words)
        for start in range(len(singular_words)):
            for end in range(min(len(singular_words), start + longest), start, -1):
                phrase = singular_words[start:end]
                if phrase in names and phrase != tuple(analysis.words[start:end]):
                    found.append((" ".join(analysis.words[start:end]), lex.fine_names[phrase]))
                    break
    for token in analysis.tokens:
        if token.i > 0 and token.text in lex.fine_capitalised:
            found.append((token.text, lex.fine_capitalised[token.text]))
    return found


def _specific_modifier(analysis: Analysis, token: Token, lex: Lexicon) -> bool:
    word = token.lower
    if word in lex.generic_adjectives or word in lex.attributes or word in lex.stopwords:
        return False
    if token.i > 0 and analysis.tokens[token.i - 1].text == "-":
        return True  # "red-tailed hawk", "long-eared owl"
    if token.pos in {"NUM", "PUNCT", "DET", "VERB"} or token.tag in {"VBG", "VBN"}:
        return False
    return not word.isdigit() and word not in lex.number_words


def _modifiers(analysis: Analysis, token: Token) -> list[Token]:
    if analysis.parsed:
        return [c for c in analysis.children(token.i) if c.dep in _MODIFIER_DEPS and c.i < token.i]
    before = analysis.tokens[token.i - 1] if token.i > 0 else None
    return [before] if before is not None else []


def _headed(analysis: Analysis, lex: Lexicon) -> list[Finding]:
    """'barn owl', 'German shepherd', 'Siamese cat': a specific modifier on a species head."""
    found: list[Finding] = []
    for token in analysis.tokens:
        head = token.lemma if token.lemma in lex.modified_heads else token.lower
        if head in lex.modified_heads:
            for mod in _modifiers(analysis, token):
                if _specific_modifier(analysis, mod, lex):
                    found.append((f"{mod.text} {token.text}", lex.modified_heads[head]))
        if head in lex.animal_heads or token.lemma in lex.animal_heads:
            for mod in _modifiers(analysis, token):
                proper = mod.ent in {"NORP", "GPE", "ORG"} or mod.pos == "PROPN"
                if proper or (mod.i > 0 and mod.text[:1].isupper()):
                    found.append((f"{mod.text} {token.text}", token.lemma))
    return found


def _cues(analysis: Analysis, lex: Lexicon) -> list[Finding]:
    """'what breed', 'which make', 'species', 'who is this'."""
    found: list[Finding] = [
        (analysis.span_text(s, e), None) for s, e in analysis.find(lex.fine_phrases)
    ]
    words = analysis.words
    for k, word in enumerate(words):
        if word in lex.fine_nouns:
            found.append((word, None))
        elif word in lex.fine_wh and k > 0 and words[k - 1] in lex.wh_words:
            found.append((f"{words[k - 1]} {word}", None))
    return found


def _designations(analysis: Analysis, lex: Lexicon) -> list[Finding]:
    """Model numbers: 'Boeing 747', 'Model 3', 'A320', 'iPhone 14'."""
    found: list[Finding] = []
    tokens = analysis.tokens
    for token in tokens:
        if _CODE.match(token.text) and token.lower not in lex.units:
            found.append((token.text, None))
            continue
        if not token.lower.isdigit() or token.i == 0:
            continue
        if analysis.parsed:
            named = tokens[token.head]
            if token.dep not in {"nummod", "compound", "appos"} or named.tag != "NNP":
                continue
        else:
            named = tokens[token.i - 1]
            if not any(c.isupper() for c in named.text) or (named.i == 0 and named.text.istitle()):
                continue
        if named.lower not in lex.numbered_safe and not (
            len(token.lower) == 4 and token.i < named.i
        ):
            found.append((f"{named.text} {token.text}", None))
    return found


def _people(analysis: Analysis, lex: Lexicon) -> list[Finding]:
    found: list[Finding] = []
    tokens = analysis.tokens
    if analysis.parsed:
        for token in tokens:
            if token.ent == "PERSON" and (token.i == 0 or tokens[token.i - 1].ent != "PERSON"):
                span = [token.text]
                for nxt in tokens[token.i + 1 :]:
                    if nxt.ent != "PERSON":
                        break
                    span.append(nxt.text)
                found.append((" ".join(span), "person"))
            elif token.ent == "PRODUCT" and not token.lower.isdigit():
                found.append((token.text, None))
        return found
    for first, second in itertools.pairwise(tokens):
        if first.lower in lex.first_names and first.text[:1].isupper() and second.text.istitle():
            found.append((f"{first.text} {second.text}", "person"))
    return found


def fine_grained(analysis: Analysis, lex: Lexicon) -> list[Finding]:
    """Every finding of a specific identity, with the broader category where known."""
    findings = []
    for rule in (_names, _headed, _cues, _designations, _people):
        findings += rule(analysis, lex)
    return findings
