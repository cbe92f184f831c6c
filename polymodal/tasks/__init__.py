"""Tasks that compose rooms: one step above vision and the advisor, so neither imports the other.

* :mod:`~polymodal.tasks.classify` - CLIP's zero-shot scores with the advisor's warnings on the
  labels, and counting labels answered by the object detector;
* :mod:`~polymodal.tasks.count` - the advisor's reading of a noun with the vision room's
  detector;
* :mod:`~polymodal.tasks.diagnose` - CLIP's scores of an image against a query, its
  rephrasings and rival labels, worded by the advisor;
* :mod:`~polymodal.tasks.search` - a photo collection searched, with the advisor's word on a
  text query;
* :mod:`~polymodal.tasks.screen` - generated images screened with the vision room's
  moderation (flagged ones blurred and marked).

Each takes loaded model objects as well as names (``model=`` a ``ClipEncoder``, ``detector=``
a ``Detector``), so a server passes the models it holds and tests pass stand-ins.
"""

from __future__ import annotations

from polymodal.tasks.classify import (
    AdvisedClassification,
    LabelAdvice,
    RoutedCount,
    RoutedQuery,
    advise,
    classify,
)
from polymodal.tasks.count import CountResult, count_objects
from polymodal.tasks.diagnose import Diagnosis, diagnose
from polymodal.tasks.search import AdvisedSearch, search_images

__all__ = [
    "AdvisedClassification",
    "AdvisedSearch",
    "CountResult",
    "Diagnosis",
    "LabelAdvice",
    "RoutedCount",
    "RoutedQuery",
    "advise",
    "classify",
    "count_objects",
    "diagnose",
    "search_images",
]
