"""The one serialiser: every result type to plain data and JSON, and back.

The CLI's ``--json``, the server's responses and users' own code all go through
:func:`to_data`, so a result serialises the same way everywhere. Results are frozen
dataclasses; their fields are their JSON keys. Two class-level hooks cover what fields alone
cannot say:

* ``render_properties: ClassVar[tuple[str, ...]]`` - derived values (``Transcript.text``) that
  belong in the output although they are not stored; :func:`from_data` ignores them on the way
  back, since the fields recompute them.
* ``dataclasses.field(metadata={"render": False})`` - a field that stays in Python only (a
  loaded image, a cache handle).

:func:`from_data` rebuilds a result from its data using the type hints, so every result type
round-trips (``from_data(type(r), to_data(r)) == r``), which is what the tests check.
Format-specific renderers (SRT, WebVTT, tables) live beside the results they draw and take
the typed result, not this module's output.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import date
from enum import Enum
from pathlib import Path, PurePath
from typing import Any, TypeVar

T = TypeVar("T")


def to_data(value: Any) -> Any:
    """``value`` as JSON-ready data: dicts, lists, strings, numbers, booleans and ``None``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {
            f.name: to_data(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("render", True)
        }
        for name in getattr(type(value), "render_properties", ()):
            data[name] = to_data(getattr(value, name))
        return data
    if isinstance(value, dict):
        return {_key(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_data(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):  # datetimes too: ISO 8601, as JSON APIs write them
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return value


def _key(key: Any) -> str:
    return key.value if isinstance(key, Enum) else str(key)


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """``to_data(value)`` as JSON text (UTF-8 characters kept, not escaped)."""
    return json.dumps(to_data(value), ensure_ascii=False, indent=indent)


def from_data(cls: type[T], data: Any) -> T:
    """Rebuild a value of type ``cls`` from :func:`to_data`'s output (unknown keys ignored)."""
    return _build(cls, data)


def _build(hint: Any, data: Any) -> Any:
    if data is None or hint is Any:
        return data
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _build_union(typing.get_args(hint), data)
    if origin is typing.Literal:
        return data
    if origin is typing.Annotated:
        return _build(typing.get_args(hint)[0], data)
    if origin is not None:
        return _build_generic(origin, typing.get_args(hint), data)
    if isinstance(hint, type):
        return _build_class(hint, data)
    return data


def _build_union(options: tuple[Any, ...], data: Any) -> Any:
    candidates = [o for o in options if o is not type(None)]
    for option in candidates:  # the first that fits the data's shape
        if _fits(option, data):
            return _build(option, data)
    return _build(candidates[0], data) if candidates else data


def _fits(hint: Any, data: Any) -> bool:
    base = typing.get_origin(hint) or hint
    if dataclasses.is_dataclass(base):
        return isinstance(data, dict)
    if base in (list, tuple, set, frozenset):
        return isinstance(data, list)
    if base is dict:
        return isinstance(data, dict)
    if base is float:
        return isinstance(data, int | float) and not isinstance(data, bool)
    if isinstance(base, type) and base in (str, int, bool):
        return isinstance(data, base)
    return True


def _build_generic(origin: Any, args: tuple[Any, ...], data: Any) -> Any:
    if origin in (list, set, frozenset):
        item = args[0] if args else Any
        return origin(_build(item, v) for v in data)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in data)
        if args:
            return tuple(_build(a, v) for a, v in zip(args, data, strict=True))
        return tuple(data)
    if origin is dict:
        key, item = args if args else (Any, Any)
        return {_build(key, k): _build(item, v) for k, v in data.items()}
    if origin in (typing.Sequence, typing.Mapping) or str(origin).startswith("<class 'collections"):
        return _build_generic(dict if isinstance(data, dict) else tuple, args, data)
    return data


def _build_class(cls: type, data: Any) -> Any:
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        values = {k: _build(hints.get(k, Any), v) for k, v in data.items() if k in names}
        return cls(**values)
    if issubclass(cls, Enum):
        return cls(data)
    if issubclass(cls, PurePath):
        return Path(data)
    if issubclass(cls, date) and isinstance(data, str):
        return cls.fromisoformat(data)
    if cls is float and isinstance(data, int | float):
        return float(data)
    if cls.__module__ == "numpy" and cls.__name__ == "ndarray":
        import numpy as np

        return np.asarray(data, dtype=np.float32)
    return data
