"""The CLIP advisor: knowing what CLIP cannot do, in words. Pure text: no image, no model but
spaCy's parser.

``check_query`` names a query's limits (counting, spatial, fine-grained, attribute binding,
negation, text reading) with a reason and an alternative; ``counting_target`` finds the noun a
counting query counts; ``map_label`` turns a user's noun into one of a detector's labels; the
``diagnosis`` module rephrases a query and words the advice. Composing this with CLIP's scores
and the detector (classification advice, ``count_objects``, ``diagnose``) happens above both
rooms, in :mod:`polymodal.tasks`. spaCy loads only when its parse is first needed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "check_query": "polymodal.advisor.check",
    "check_queries": "polymodal.advisor.check",
    "counting_target": "polymodal.advisor.check",
    "QueryCheck": "polymodal.advisor.check",
    "Verdict": "polymodal.advisor.check",
    "KINDS": "polymodal.advisor.check",
    "map_label": "polymodal.advisor.labelmap",
    "Scored": "polymodal.advisor.diagnosis",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'polymodal.advisor' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
