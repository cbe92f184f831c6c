"""``check_query``: what CLIP can and cannot answer about a query, and what to use instead.

CLIP embeds a whole image into one vector. It matches broad concepts well but cannot count,
locate, bind attributes to objects, tell fine-grained identities apart, understand negation or
read text reliably. The advisor names those limits per query, with the words that triggered each
verdict and a concrete alternative, so callers can warn or route (counting goes to a detector).

Checks are cached per query string (an LRU), so labels repeated across calls cost nothing; queries
with no trigger word at all skip the parser entirely.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import ClassVar

from polymodal.advisor import identity, rules
from polymodal.advisor.lexicon import Lexicon, lexicon, singular
from polymodal.advisor.linguistic import Analysis, analyse_many, rule_parse, spacy_enabled

KINDS = (
    "ok",
    "counting",
    "spatial",
    "fine_grained",
    "attribute_binding",
    "negation",
    "text_reading",
)
LIMITS = KINDS[1:]


@dataclass(frozen=True)
class Verdict:
    """One finding: its ``kind``, why CLIP struggles, what to use instead, and the trigger words."""

    kind: str
    reason: str
    alternative: str
    evidence: str


@dataclass(frozen=True)
class QueryCheck:
    """The advisor's answer for one query. ``ok`` is True when no verdict limits CLIP (and is
    part of the rendered result)."""

    render_properties: ClassVar[tuple[str, ...]] = ("ok",)

    query: str
    verdicts: tuple[Verdict, ...]

    @property
    def ok(self) -> bool:
        return all(v.kind == "ok" for v in self.verdicts)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(v.kind for v in self.verdicts)

    @property
    def limits(self) -> tuple[Verdict, ...]:
        """The limiting verdicts only (empty when ``ok``)."""
        return tuple(v for v in self.verdicts if v.kind != "ok")


_REASONS = {
    "ok": "A broad visual concept: CLIP matches this kind of query well.",
    "counting": "CLIP embeds the whole image into one vector and cannot count objects.",
    "spatial": "CLIP ignores where objects are relative to each other (left, above, behind).",
    "fine_grained": (
        "CLIP confuses specific identities (people, breeds, species, makes and models, "
        "product versions) with their look-alikes."
    ),
    "attribute_binding": (
        "CLIP mixes up which colour, material or size belongs to which object when there are "
        "several (a red car and a blue truck looks like a blue car and a red truck)."
    ),
    "negation": "CLIP ignores negation: 'no dogs' and 'without a dog' match images of dogs.",
    "text_reading": "CLIP sees that text is present but cannot read it reliably.",
}


def _alternative(kind: str, query: str, evidence: list[str], extra: str | None) -> str:
    if kind == "counting":
        target = extra or "the objects"
        return (
            f"Count with an object detector (DETR): polymodal count IMAGE '{target}', "
            "which returns the count, boxes and scores."
        )
    if kind == "spatial":
        return (
            "Locate objects with an object detector (polymodal count IMAGE 'noun' --json gives "
            "boxes) or ask a visual-question-answering or captioning model about the relation."
        )
    if kind == "fine_grained":
        broader = (
            f" CLIP is reliable at the broader level: 'a photo of a {extra}'." if extra else ""
        )
        return (
            "Use a specialised classifier for this identity (a breed, species or vehicle-model "
            f"classifier, or face recognition for people).{broader}"
        )
    if kind == "attribute_binding":
        parts = " and ".join(f"'{e}'" for e in evidence[:3])
        return (
            f"Query each object on its own ({parts}), or detect the objects first and "
            "classify each box, or ask a visual-question-answering model."
        )
    if kind == "negation":
        positive = extra or "the positive concept"
        return (
            f"Search for '{positive}' and keep the images that score LOW on it, "
            "instead of writing the negation into the query."
        )
    if kind == "text_reading":
        return "Read text with OCR (for example Tesseract, EasyOCR or PaddleOCR), not CLIP."
    return ""


def _positive(analysis: Analysis, lex: Lexicon) -> str:
    """The query with its negation removed or flipped ('a dog without a leash' -> 'with')."""
    flips: dict[str, str] = lex.raw["negation_positive"]
    out = []
    for token in analysis.tokens:
        word = flips.get(token.lower, token.text)
        if word:
            out.append(word)
    text = " ".join(out).replace(" n't", "").replace(" ,", ",")
    for aux in (" does ", " do ", " did "):
        text = text.replace(aux, " ")
    return " ".join(text.split())


def _needs_parse(analysis: Analysis, lex: Lexicon) -> bool:
    """Could a parse change the answer? Only then is spaCy worth its few milliseconds.

    Negation, text-reading cues, spatial phrases and listed names read the same from words
    alone; the parse decides numbers (a count or a model number?), lone spatial prepositions
    (do they govern an object?), which noun a colour belongs to, species modifiers and names of
    people and products (capitalised words).
    """
    if any(ch.isupper() for ch in analysis.text[1:]) or any(ch.isdigit() for ch in analysis.text):
        return True
    if sum(w in lex.attributes for w in analysis.words) >= 2:
        return True
    triggers = _parse_triggers()
    return any(w in triggers or rules.is_number(t, lex) for w, t in _word_tokens(analysis))


def _word_tokens(analysis: Analysis):
    owners = (analysis.tokens[i] for i in analysis.word_token)
    return zip(analysis.words, owners, strict=True)


@cache
def _parse_triggers() -> frozenset[str]:
    lex = lexicon()
    words = set(lex.spatial_preps) | set(lex.modified_heads)  # animal heads: capitals decide
    words |= {"count", "counting", "number", "many", "writing", "who"}
    return frozenset(words)


def _verdicts(analysis: Analysis) -> tuple[Verdict, ...]:
    lex = lexicon()
    found: list[Verdict] = []

    def add(kind: str, evidence: list[str], extra: str | None = None) -> None:
        unique = list(dict.fromkeys(evidence))
        alternative = _alternative(kind, analysis.text, unique, extra)
        found.append(Verdict(kind, _REASONS[kind], alternative, ", ".join(unique)))

    if evidence := rules.counting(analysis, lex):
        add("counting", evidence, _target(analysis, lex))
    if evidence := rules.spatial(analysis, lex):
        add("spatial", evidence)
    if findings := identity.fine_grained(analysis, lex):
        broader = next((c for _, c in findings if c), None)
        add("fine_grained", [e for e, _ in findings], broader)
    if evidence := rules.attribute_binding(analysis, lex):
        add("attribute_binding", evidence)
    if evidence := rules.negation(analysis, lex):
        add("negation", evidence, _positive(analysis, lex))
    if evidence := rules.text_reading(analysis, lex):
        add("text_reading", evidence)
    if not found:
        add("ok", [])
    return tuple(found)


_CACHE_SIZE = 8192
_cache: OrderedDict[tuple[str, bool], QueryCheck] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key: tuple[str, bool]) -> QueryCheck | None:
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def _store(key: tuple[str, bool], value: QueryCheck) -> None:
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def _check_batch(queries: tuple[str, ...], use_spacy: bool) -> list[QueryCheck]:
    lex = lexicon()
    quick = [rule_parse(q) for q in queries]
    analyses: list[Analysis] = list(quick)
    if use_spacy:
        wanted = [i for i, a in enumerate(quick) if _needs_parse(a, lex)]
        parsed = analyse_many([queries[i] for i in wanted], use_spacy=True) if wanted else []
        for i, analysis in zip(wanted, parsed, strict=True):
            analyses[i] = analysis
    return [QueryCheck(q, _verdicts(a)) for q, a in zip(queries, analyses, strict=True)]


def _normalise(query: str) -> str:
    if not isinstance(query, str):
        raise TypeError(f"check_query expects a string, got {type(query).__name__}.")
    return " ".join(query.split())


def check_query(query: str) -> QueryCheck:
    """Check one query: its verdicts (``ok`` or one or more of CLIP's limits) with alternatives.

    Uses spaCy's parse when available and ``POLYMODAL_ADVISOR_SPACY`` is not ``0``; otherwise
    deterministic word rules. Results are cached per query string (LRU).
    """
    return check_queries([query])[0]


def check_queries(queries: Iterable[str]) -> list[QueryCheck]:
    """Check many queries at once: one batched parse for the uncached ones (a call's labels).

    Batching matters with spaCy: ``nlp.pipe`` parses a batch several times faster per query.
    """
    use_spacy = spacy_enabled()
    texts = [_normalise(q) for q in queries]
    missing = tuple(dict.fromkeys(t for t in texts if _cached((t, use_spacy)) is None))
    fresh = dict(zip(missing, _check_batch(missing, use_spacy), strict=True)) if missing else {}
    for text, result in fresh.items():
        _store((text, use_spacy), result)
    return [
        fresh.get(t) or _cached((t, use_spacy)) or _check_batch((t,), use_spacy)[0] for t in texts
    ]


def clear_cache() -> None:
    """Forget cached checks (tests switch spaCy on and off)."""
    with _cache_lock:
        _cache.clear()
    _counting_target.cache_clear()


# --- the noun to count ------------------------------------------------------------------------


def _noun_phrase(analysis: Analysis, noun) -> str:
    lex = lexicon()
    word = noun.lemma if analysis.parsed and noun.pos == "NOUN" else noun.lower
    if not analysis.parsed or noun.pos != "NOUN":
        word = singular(word)
    word = lex.irregular_plurals.get(word, word)
    compounds = [c.lower for c in analysis.children(noun.i) if c.dep == "compound" and c.i < noun.i]
    return " ".join([*compounds, word]) if analysis.parsed else word


def _target(analysis: Analysis, lex: Lexicon) -> str | None:
    from polymodal.advisor.count_target import find_target

    return find_target(analysis, lex, _noun_phrase)


def counting_target(query: str) -> str | None:
    """The noun a counting query counts ('how many dogs are there' -> 'dog'), else None."""
    return _counting_target(_normalise(query), spacy_enabled())


@lru_cache(maxsize=2048)
def _counting_target(text: str, use_spacy: bool) -> str | None:
    if "counting" not in check_query(text).kinds:
        return None
    return _target(analyse_many([text], use_spacy=use_spacy)[0], lexicon())
