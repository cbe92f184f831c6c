"""``classify`` with the advisor's word on the labels, and counting labels sent to the detector.

CLIP answers every label with a confident-looking number, even for labels it cannot judge
("three dogs", "a cat left of a dog", "no people"). Every classification therefore asks the
advisor about each label and carries its warnings, and a label the advisor calls a *counting*
query is routed: the result recommends the detector (``polymodal count``) and, unless told not
to, asks it. :func:`route` is the one place that decides where a query goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polymodal.advisor.check import QueryCheck, check_queries, counting_target
from polymodal.errors import BadInputError, PolymodalError
from polymodal.progress import CancelToken, ProgressCallback
from polymodal.tasks.count import count_objects
from polymodal.vision.classify import ClassificationResult, Thresholds
from polymodal.vision.classify import classify as clip_classify
from polymodal.vision.detect import DetectorRef, get_detector
from polymodal.vision.embed import ModelRef
from polymodal.vision.files import PathLike
from polymodal.vision.prompts import Templates


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


@dataclass(frozen=True)
class AdvisedClassification(ClassificationResult):
    """CLIP's classification with the advisor's word on the labels.

    ``advice``: warnings about labels CLIP judges poorly (counting, spatial relations,
    negation ...). ``routed``: labels another tool answers properly, with the command to run.
    ``counts``: the object detector's answers to routed counting labels, per image;
    ``route_notes``: why a route could not run (for example, no detector on this machine).
    """

    advice: tuple[LabelAdvice, ...] = ()
    routed: tuple[RoutedQuery, ...] = ()
    counts: tuple[RoutedCount, ...] = ()
    route_notes: tuple[str, ...] = ()


def route(label: str, kinds: Sequence[str]) -> RoutedQuery | None:
    """Where a label should go instead of CLIP, given the advisor's verdict kinds.

    Counting goes to the object detector; other limits only warn (the label still runs).
    """
    if "counting" not in kinds:
        return None
    target = (counting_target(label) or label).replace('"', "")
    return RoutedQuery(
        label=label,
        task="count",
        target=target,
        reason="CLIP cannot count objects; an object detector can.",
        command=f'polymodal count IMAGE "{target}"',
    )


def advise(labels: Sequence[str]) -> tuple[tuple[LabelAdvice, ...], tuple[RoutedQuery, ...]]:
    """The advisor's warnings on ``labels`` (one batched check) and the labels routed elsewhere."""
    advice: list[LabelAdvice] = []
    routed: list[RoutedQuery] = []
    for label, check in zip(labels, check_queries(list(labels)), strict=True):
        advice += _advice(label, check)
        destination = route(label, [v.kind for v in check.limits])
        if destination is not None:
            routed.append(destination)
    return tuple(advice), tuple(routed)


def _advice(label: str, check: QueryCheck) -> list[LabelAdvice]:
    return [
        LabelAdvice(label=label, kind=v.kind, reason=v.reason, alternative=v.alternative or "")
        for v in check.limits
    ]


def answer_counts(
    paths: Sequence[str], routed: Sequence[RoutedQuery], *, detector: DetectorRef = None
) -> tuple[tuple[RoutedCount, ...], tuple[str, ...]]:
    """Count each routed label's target in every image with the object detector.

    Returns the counts and notes on routes that could not run (no detector on this machine,
    a noun the detector has no label for). A missing detector never fails the classification:
    the labels were still scored by CLIP, with the advisor's warning attached.
    """
    counting = [r for r in routed if r.task == "count"]
    if not counting or not paths:
        return (), ()
    try:
        loaded = get_detector(detector)
    except PolymodalError as exc:
        return (), (f"Counting needs the object detector: {exc}",)
    counts: list[RoutedCount] = []
    notes: list[str] = []
    for query in counting:
        try:
            for path in paths:
                result = count_objects(path, query.target, model=loaded)
                counts.append(RoutedCount(path, query.label, query.target, result.count))
        except BadInputError as exc:
            notes.append(f"'{query.label}' was not counted: {exc}")
    return tuple(counts), tuple(notes)


def classify(
    images: PathLike | Sequence[PathLike],
    labels: Sequence[str],
    *,
    model: ModelRef = None,
    templates: Templates = None,
    multi_label: bool = False,
    thresholds: Thresholds = None,
    top_k: int | None = None,
    cache: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    route: bool = True,
    detector: DetectorRef = None,
) -> AdvisedClassification:
    """Classify images against ``labels`` with CLIP, zero-shot, with the advisor's warnings.

    Options as :func:`polymodal.vision.classify.classify` (the plain CLIP classifier), plus
    ``route``: answer counting labels with the object detector ``detector`` (a name, a folder,
    a loaded detector; default: the catalogue's) as well, since CLIP cannot count.
    """
    scored = clip_classify(
        images,
        labels,
        model=model,
        templates=templates,
        multi_label=multi_label,
        thresholds=thresholds,
        top_k=top_k,
        cache=cache,
        progress=progress,
        cancel=cancel,
    )
    advice, routed = advise(scored.labels)
    paths = [item.path for item in scored.items]
    counts, notes = answer_counts(paths, routed, detector=detector) if route else ((), ())
    fields = {name: getattr(scored, name) for name in scored.__dataclass_fields__}
    return AdvisedClassification(
        **fields, advice=advice, routed=routed, counts=counts, route_notes=notes
    )
