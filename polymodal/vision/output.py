"""Writing embeddings for other tools: ``.npy`` with a JSON sidecar, or ``.parquet``.

Why two formats: ``.npy`` loads with nothing but numpy (the sidecar keeps the row order's
paths or texts and the model id), while Parquet keeps rows and names together for pandas,
DuckDB, Polars or LanceDB. :func:`export_embeddings` is the whole task (embed, then write)
behind ``polymodal embed``; its :class:`EmbeddingExport` says what was written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymodal import render
from polymodal.errors import BadInputError, DependencyMissingError
from polymodal.media.files import atomic_path, write_atomic
from polymodal.progress import CancelToken, ProgressCallback
from polymodal.vision import embed
from polymodal.vision.embed import Failure, ModelRef
from polymodal.vision.files import PathLike, image_files

FORMATS = (".npy", ".parquet")


@dataclass(frozen=True)
class EmbeddingExport:
    """What :func:`export_embeddings` wrote: ``count`` rows of ``kind`` ("image" or "text")
    with ``dim`` values each, by ``model_id``, into ``files``; how many images were
    ``computed`` by the model or read from the cache (texts: 0, 0), and what failed."""

    kind: str
    count: int
    model_id: str
    dim: int
    computed: int
    cached: int
    files: tuple[str, ...]
    failures: tuple[Failure, ...] = ()


def output_format(out: str | os.PathLike[str]) -> str:
    """The output's format (``.npy`` or ``.parquet``); check it before long work starts."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise BadInputError(f"Output '{out}' must end in .npy or .parquet.", param="out")
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
    failures: Sequence[Failure] = (),
) -> list[Path]:
    """Save ``vectors`` (row i belongs to ``names[i]``) to ``out``; returns the files written.

    ``kind`` is ``"path"`` or ``"text"``: the name of the column (parquet) or sidecar list (npy).
    Each file appears whole or not at all.
    """
    out = Path(out)
    suffix = output_format(out)
    vectors = np.asarray(vectors, dtype=np.float32)
    dim = int(vectors.shape[1]) if vectors.ndim == 2 else 0
    if suffix == ".npy":
        sidecar = out.with_suffix(".json")
        meta = {"model_id": model_id, "dim": dim, f"{kind}s": list(names), "failures": failures}
        with atomic_path(out) as tmp:
            np.save(tmp, vectors)
        write_atomic(sidecar, render.to_json(meta))
        return [out, sidecar]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DependencyMissingError(
            "Writing .parquet needs pyarrow: pip install pyarrow (or write .npy)."
        ) from exc
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.table(
        {
            kind: pa.array(list(names), type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
        }
    )
    table = table.replace_schema_metadata({"model_id": model_id, "dim": str(dim)})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    return [out]


def export_embeddings(
    out: str | os.PathLike[str],
    *,
    images: PathLike | Sequence[PathLike] | None = None,
    texts: Sequence[str] | None = None,
    model: ModelRef = None,
    cache: bool = True,
    batch_size: int = 32,
    int8: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> EmbeddingExport:
    """Embed image files (folders walked) or texts, and write them to ``out`` (.npy/.parquet).

    Exactly one of ``images`` and ``texts``. The output format is checked before any work
    starts; unreadable images are skipped and listed in the result's ``failures``.
    """
    output_format(out)
    if images and texts:
        raise BadInputError("Give images or texts to embed, not both in one run.", param="texts")
    if texts:
        encoder = embed.get_encoder(model, int8)
        vectors = embed.embed_texts(list(texts), model=encoder, cache=cache)
        files = write_embeddings(out, texts, vectors, kind="text", model_id=encoder.model_id)
        return _export("text", len(texts), encoder.model_id, vectors, files)
    if not images:
        raise BadInputError("Name image files or folders, or texts, to embed.", param="images")
    result = embed.embed_images(
        image_files(images),
        model=model,
        cache=cache,
        batch_size=batch_size,
        int8=int8,
        progress=progress,
        cancel=cancel,
    )
    files = write_embeddings(
        out,
        result.paths,
        result.vectors,
        kind="path",
        model_id=result.model_id,
        failures=result.failures,
    )
    counts = (result.computed, result.cached, result.failures)
    return _export("image", len(result.paths), result.model_id, result.vectors, files, *counts)


def _export(
    kind: str,
    count: int,
    model_id: str,
    vectors: np.ndarray,
    files: Sequence[Path],
    computed: int = 0,
    cached: int = 0,
    failures: tuple[Failure, ...] = (),
) -> EmbeddingExport:
    return EmbeddingExport(
        kind=kind,
        count=count,
        model_id=model_id,
        dim=int(vectors.shape[1]) if vectors.ndim == 2 else 0,
        computed=computed,
        cached=cached,
        files=tuple(str(f) for f in files),
        failures=failures,
    )
