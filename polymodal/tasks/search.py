"""``search_images``: a collection searched by words or by example, with the advisor's word on
the query.

A text query CLIP cannot answer well ("three dogs", "a cat left of a dog", "no people") gets the
same warning ``classify`` gives, beside the hits, so a user learns why the results look wrong;
a counting query also names the detector command that can answer it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from polymodal.search import Collection, SearchResult
from polymodal.tasks.classify import LabelAdvice, RoutedQuery, advise


@dataclass(frozen=True)
class AdvisedSearch(SearchResult):
    """A search's hits with the advisor's warnings about the text query (none for images)."""

    advice: tuple[LabelAdvice, ...] = ()
    routed: tuple[RoutedQuery, ...] = ()


def search_images(
    text: str | None = None,
    *,
    image: str | os.PathLike[str] | None = None,
    collection: str | Collection = "photos",
    db: str | os.PathLike[str] | None = None,
    model: Any = None,
    k: int = 20,
    where: str | None = None,
    after: str | date | None = None,
    before: str | date | None = None,
    camera: str | None = None,
    min_score: float | None = None,
) -> AdvisedSearch:
    """Search a collection (a name or a :class:`~polymodal.search.Collection`); options as
    :meth:`Collection.search <polymodal.search.Collection.search>`."""
    target = (
        collection
        if isinstance(collection, Collection)
        else Collection(collection, db=db, model=model)
    )
    result = target.search(
        text,
        image=image,
        k=k,
        where=where,
        after=after,
        before=before,
        camera=camera,
        min_score=min_score,
    )
    advice, routed = advise([text]) if text is not None else ((), ())
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    return AdvisedSearch(**values, advice=advice, routed=routed)
