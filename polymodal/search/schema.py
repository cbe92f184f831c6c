"""A collection's table layout, the header that says which model made its vectors, and the
migrations between layout versions.

The header lives in the ``vector`` column's field metadata, so it is written in the same commit
that creates the table (no second file to lose or to disagree) and travels with the table to
an object store. Like rclip's database, a collection carries a version number: an older layout
is migrated on open, a newer one (written by a later polymodal) is refused with a sentence,
since guessing at a future layout could lose the user's index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from polymodal.errors import BadInputError

#: The layout this code writes. Bump it with a migration in ``MIGRATIONS``.
SCHEMA_VERSION = 1

_MODEL, _MODEL_ID, _DIM, _VERSION = (
    b"polymodal.model",
    b"polymodal.model_id",
    b"polymodal.dim",
    b"polymodal.schema",
)

#: Columns a ``where`` may name, with their Arrow types (``vector`` is not filterable).
COLUMNS: dict[str, pa.DataType] = {
    "path": pa.string(),
    "hash": pa.string(),
    "size": pa.int64(),
    "mtime": pa.float64(),
    "width": pa.int32(),
    "height": pa.int32(),
    "date": pa.timestamp("us"),
    "taken_at": pa.timestamp("us"),
    "camera_make": pa.string(),
    "camera_model": pa.string(),
}


@dataclass(frozen=True)
class Header:
    """Which model made a collection's vectors: its name as the user gave it (to load it again
    for queries), its stable id (to refuse mixing), the dimension, and the layout version."""

    model: str
    model_id: str
    dim: int
    version: int = SCHEMA_VERSION

    def metadata(self) -> dict[bytes, bytes]:
        return {
            _MODEL: self.model.encode(),
            _MODEL_ID: self.model_id.encode(),
            _DIM: str(self.dim).encode(),
            _VERSION: str(self.version).encode(),
        }


def table_schema(header: Header) -> pa.Schema:
    """The Arrow schema of a collection whose vectors come from ``header``'s model."""
    fields = [pa.field(name, kind) for name, kind in COLUMNS.items()]
    vector = pa.field("vector", pa.list_(pa.float32(), header.dim), metadata=header.metadata())
    return pa.schema([*fields, vector])


def read_header(schema: pa.Schema, name: str) -> Header:
    """The header stored in a collection's schema; a table without one is not ours."""
    try:
        meta = schema.field("vector").metadata or {}
        return Header(
            model=meta[_MODEL].decode(),
            model_id=meta[_MODEL_ID].decode(),
            dim=int(meta[_DIM]),
            version=int(meta[_VERSION]),
        )
    except (KeyError, ValueError) as exc:
        raise BadInputError(
            f"The table '{name}' was not written by polymodal (it has no collection header); "
            "choose another collection name.",
            param="collection",
        ) from exc


def header_updates(header: Header) -> dict[str, Any]:
    """The ``update_field_metadata`` argument that rewrites the header (after a migration)."""
    meta = {k.decode(): v.decode() for k, v in header.metadata().items()}
    return {"path": "vector", "metadata": meta}


#: ``from_version -> migrate(table)``: each step brings a table one version forward.
MIGRATIONS: dict[int, Callable[[Any], None]] = {}


def check_version(header: Header, name: str) -> None:
    """Refuse a collection written by a newer polymodal, or one with no path to this layout."""
    if header.version > SCHEMA_VERSION:
        raise BadInputError(
            f"Collection '{name}' was written by a newer polymodal (index layout version "
            f"{header.version}; this version reads up to {SCHEMA_VERSION}). Upgrade polymodal "
            "to use it; it was left untouched.",
            param="collection",
        )
    missing = [v for v in range(header.version, SCHEMA_VERSION) if v not in MIGRATIONS]
    if missing:
        raise BadInputError(
            f"Collection '{name}' uses index layout version {header.version}, which this "
            f"polymodal cannot migrate; re-create it with polymodal index.",
            param="collection",
        )
