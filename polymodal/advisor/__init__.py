"""The CLIP advisor: knowing what CLIP cannot do, and routing those queries elsewhere.

``check_query`` names a query's limits (counting, spatial, fine-grained, attribute binding,
negation, text reading) with a reason and an alternative; ``count_objects`` counts with an object
detector; ``diagnose`` explains one image's score for one query. Heavy modules (torch,
transformers, spaCy) load only when their function is first used.
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
    "count_objects": "polymodal.advisor.detect",
    "CountResult": "polymodal.advisor.detect",
    "Detection": "polymodal.advisor.detect",
    "Detector": "polymodal.advisor.detect",
    "diagnose": "polymodal.advisor.diagnosis",
    "Diagnosis": "polymodal.advisor.diagnosis",
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
