"""The advisor's word on labels and queries, attached to vision results, and query routing.

CLIP answers every label with a confident-looking number, even for labels it cannot judge
("three dogs", "a cat left of a dog", "no people"). Every classification therefore asks
:func:`polymodal.advisor.check_query` about each label and carries its warnings, and a label
the advisor calls a *counting* query is routed: the result recommends the detector
(``polymodal count``). :func:`route` is the one place that decides where a query goes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LabelAdvice:
    """One advisor warning about a label: its kind (counting, spatial ...), why, what instead."""

    label: str
    kind: str
    reason: str
    alternative: str


@dataclass(frozen=True)
class RoutedQuery:
    """A label better answered by another tool: the task, what it looks for, and the command.

    ``target`` is what the other tool needs (for ``count``: the noun to count, "dog" for
    "three dogs").
    """

    label: str
    task: str
    target: str
    reason: str
    command: str


@dataclass(frozen=True)
class RoutedCount:
    """The detector's answer to a routed counting label for one image."""

    path: str
    label: str
    target: str
    count: int


def answer_counts(
    paths: Sequence[str], routed: Sequence[RoutedQuery], *, detector: str | None = None
) -> tuple[tuple[RoutedCount, ...], tuple[str, ...]]:
    """Count each routed label's target in every image with the object detector.

    Returns the counts and notes on routes that could not run (no detector on this machine,
    a noun the detector has no label for). A missing detector never fails the classification:
    the labels were still scored by CLIP, with the advisor's warning attached.
    """
    counting = [r for r in routed if r.task == "count"]
    if not counting or not paths:
        return (), ()
    from polymodal.advisor import count_objects
    from polymodal.errors import BadInputError, PolymodalError

    counts: list[RoutedCount] = []
    notes: list[str] = []
    for query in counting:
        try:
            for path in paths:
                result = count_objects(path, query.target, model=detector)
                counts.append(RoutedCount(path, query.label, query.target, result.count))
        except BadInputError as exc:
            notes.append(f"'{query.label}' was not counted: {exc}")
        except PolymodalError as exc:
            notes.append(f"Counting needs the object detector: {exc}")
            break
    return tuple(counts), tuple(notes)


def _checker() -> Callable[[Sequence[str]], Sequence[Any]] | None:
    """The advisor's batch check (one parse for all labels), or ``None`` without the advisor."""
    try:
        import polymodal.advisor as advisor

        batch = getattr(advisor, "check_queries", None)
        if batch is not None:
            return lambda labels: batch(list(labels))
        single = advisor.check_query
    except (ImportError, AttributeError):
        return None
    return lambda labels: [single(label) for label in labels]


def _kind(verdict: Any) -> str:
    kind = getattr(verdict, "kind", "")
    return str(getattr(kind, "value", kind))


def _counting_target(label: str) -> str:
    """The noun to count ("three dogs" -> "dog") when the advisor can tell, else the label."""
    try:
        from polymodal.advisor import counting_target
    except ImportError:
        return label
    return counting_target(label) or label


def route(label: str, kinds: Sequence[str]) -> RoutedQuery | None:
    """Where a label should go instead of CLIP, given the advisor's verdict kinds.

    Counting goes to the object detector; other limits only warn (the label still runs).
    """
    if "counting" in kinds:
        target = _counting_target(label).replace('"', "")
        return RoutedQuery(
            label=label,
            task="count",
            target=target,
            reason="CLIP cannot count objects; an object detector can.",
            command=f'polymodal count IMAGE "{target}"',
        )
    return None


def advise(labels: Sequence[str]) -> tuple[tuple[LabelAdvice, ...], tuple[RoutedQuery, ...]]:
    """The advisor's warnings on ``labels`` and the labels routed elsewhere (empty without it)."""
    check = _checker()
    if check is None:
        return (), ()
    advice: list[LabelAdvice] = []
    routed: list[RoutedQuery] = []
    for label, result in zip(labels, check(labels), strict=True):
        verdicts = [v for v in result.verdicts if _kind(v) != "ok"]
        advice += [
            LabelAdvice(
                label=label,
                kind=_kind(v),
                reason=str(getattr(v, "reason", "")),
                alternative=str(getattr(v, "alternative", "") or ""),
            )
            for v in verdicts
        ]
        destination = route(label, [_kind(v) for v in verdicts])
        if destination is not None:
            routed.append(destination)
    return tuple(advice), tuple(routed)
