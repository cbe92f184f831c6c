"""A request's ``model`` to the model the server loads: OpenAI's names to the configured
default, catalogue names to themselves, anything else a 404.

A request's text never reaches the file system: ``model`` is looked up among names, never
tried as a path (the library would read a folder), so only the folders the operator gave at
start (``--whisper-model``, ``--clip-model``) are ever loaded from disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import polymodal
from polymodal.server.errors import ModelNotReadyError

T = TypeVar("T")


@dataclass(frozen=True)
class ModelNames:
    """The names one family answers to: ``aliases`` (OpenAI's) mean ``default`` (``None``:
    the library's default), and every catalogue entry of ``family`` means itself."""

    family: str
    default: str | None
    aliases: tuple[str, ...]

    def resolve(self, requested: str) -> str | None:
        """What to load for ``requested``, or a 404 naming what is offered."""
        name = requested.strip()
        if name in self.aliases:
            return self.default
        known = catalogue_names(self.family)
        if name not in known:
            offered = ", ".join([*self.aliases, *known])
            raise polymodal.ModelUnavailableError(
                f"The model '{name}' does not exist on this server; use one of {offered}.",
                param="model",
            )
        return name

    def load(self, name: str | None, loader: Callable[[str | None], T]) -> T:
        """``loader(name)`` for a name :meth:`resolve` gave. A known model that cannot be
        loaded (weights not on this machine) is the operator's problem, not the client's: a
        503 with the library's sentence on how to get it, where an unknown name is a 404."""
        try:
            return loader(name)
        except polymodal.ModelUnavailableError as exc:
            raise ModelNotReadyError(str(exc)) from exc


@cache
def catalogue_names(family: str) -> tuple[str, ...]:
    """The catalogue's names for ``family``, listed once: the entries are fixed in the code,
    and listing them also looks each one up on disk (1.5 ms, on every request otherwise)."""
    return tuple(info.name for info in polymodal.list_models(family))
