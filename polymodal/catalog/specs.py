"""The catalogue's entries: ``models.toml`` read into :class:`ModelSpec` records.

The table is data so that adding a model is an edit to one file with named fields, and so that
reading it imports nothing heavier than :mod:`tomllib`: ``polymodal models list`` stays fast.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from polymodal.config import settings
from polymodal.errors import ModelUnavailableError

TABLE = Path(__file__).with_name("models.toml")


@dataclass(frozen=True)
class ModelSpec:
    """A catalogue entry. ``size_mb`` is the weights on disk; ``memory_mb`` what loading needs."""

    name: str
    family: str
    source: str
    description: str
    size_mb: float
    memory_mb: float
    default: bool = False


#: A loader: ``"module:function"`` (imported on first use) or the function itself. It takes
#: ``(ResolvedModel, **options)`` and returns the loaded model.
Loader = str | Callable[..., Any]


def read_table(path: Path = TABLE) -> tuple[dict[str, ModelSpec], dict[str, Loader]]:
    """The entries (name -> spec, in file order) and the loaders (family -> loader) of a table.

    Unknown or missing fields fail here, naming the entry, rather than as a ``TypeError`` deep
    inside a load.
    """
    with path.open("rb") as handle:
        table = tomllib.load(handle)
    known = {f.name for f in fields(ModelSpec)}
    specs: dict[str, ModelSpec] = {}
    for entry in table.get("models", []):
        extra = set(entry) - known
        if extra:
            raise ValueError(f"{path}: model {entry.get('name')!r} has unknown fields {extra}.")
        spec = ModelSpec(**entry)
        if spec.name in specs:
            raise ValueError(f"{path}: model {spec.name!r} is listed twice.")
        specs[spec.name] = spec
    return specs, dict(table.get("loaders", {}))


CATALOG, LOADERS = read_table()
"""``CATALOG``: name -> :class:`ModelSpec`. ``LOADERS``: family -> :data:`Loader`; a program
(or a test) adds a family by setting ``LOADERS[family]``, to a dotted path or a function."""


def hf_ref(ref: str) -> tuple[str, str | None]:
    """Split ``owner/name@revision`` into the repository id and the revision (or None)."""
    repo_id, _, revision = ref.partition("@")
    return repo_id, revision or None


def get_spec(name: str) -> ModelSpec:
    """The catalogue entry for ``name`` or for its Hugging Face id; unknown names get a
    sentence listing close choices."""
    if name in CATALOG:
        return CATALOG[name]
    aliases = {hf_ref(spec.source.removeprefix("hf:"))[0]: spec for spec in CATALOG.values()}
    if name in aliases:
        return aliases[name]
    close = difflib.get_close_matches(name, list(CATALOG), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelUnavailableError(
        f"Unknown model '{name}'.{hint} The catalogue lists the known names "
        "(polymodal models list, or list_models() in Python); a local model directory "
        "works too.",
        param="model",
    )


def default_model(family: str) -> str:
    """The name of the family's default model (from settings where the family has one)."""
    configured = {"whisper": settings().whisper_model, "clip": settings().clip_model}
    if family in configured:
        return configured[family]
    for spec in CATALOG.values():
        if spec.family == family and spec.default:
            return spec.name
    raise ModelUnavailableError(f"No default model for the '{family}' family.")


def loader_for(family: str) -> Callable[..., Any]:
    """The family's loader function, importing its module on first use."""
    import importlib

    try:
        loader = LOADERS[family]
    except KeyError:
        raise ModelUnavailableError(f"No loader for the '{family}' family.") from None
    if callable(loader):
        return loader
    module_name, _, function = loader.partition(":")
    return getattr(importlib.import_module(module_name), function)
