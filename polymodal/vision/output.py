"""Writing embeddings for other tools: ``.npy`` with a JSON sidecar, or ``.parquet``.

Why two formats: ``.npy`` loads with nothing but numpy (the sidecar keeps the row order's
paths or texts and the model id), while Parquet keeps rows and names together for pandas,
DuckDB, Polars or LanceDB.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from polymodal.errors import BadInputError, DependencyMissingError

FORMATS = (".npy", ".parquet")


def _atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def output_format(out: str | os.PathLike[str]) -> str:
    """The output's format (``.npy`` or ``.parquet``); check it before long work starts."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise BadInputError(f"Output '{out}' must end in .npy or .parquet.")
    if suffix == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise DependencyMissingError(
                "Writing .parquet needs pyarrow: pip install pyarrow (or write .npy)."
            )
    return suffix


def write_embeddings(
    out: str | os.PathLike[str],
    names: Sequence[str],
    vectors: np.ndarray,
    *,
    kind: str,
    model_id: str,
    failures: Sequence[dict[str, str]] = (),
) -> list[Path]:
    """Save ``vectors`` (row i belongs to ``names[i]``) to ``out``; returns the files written.

    ``kind`` is ``"path"`` or ``"text"``: the name of the column (parquet) or sidecar list (npy).
    """
    out = Path(out)
    suffix = output_format(out)
    vectors = np.asarray(vectors, dtype=np.float32)
    if suffix == ".npy":
        sidecar = out.with_suffix(".json")
        meta = {
            "model_id": model_id,
            "dim": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
            f"{kind}s": list(names),
            "failures": list(failures),
        }
        _atomic(out, lambda tmp: np.save(tmp, vectors))
        _atomic(sidecar, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
        return [out, sidecar]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DependencyMissingError(
            "Writing .parquet needs pyarrow: pip install pyarrow (or write .npy)."
        ) from exc
    dim = int(vectors.shape[1]) if vectors.ndim == 2 else 0
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.table(
        {
            kind: pa.array(list(names), type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
        }
    )
    table = table.replace_schema_metadata({"model_id": model_id, "dim": str(dim)})
    _atomic(out, lambda tmp: pq.write_table(table, tmp))
    return [out]
