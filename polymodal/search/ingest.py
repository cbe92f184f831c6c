"""Bringing a collection up to date with folders: plan what changed, then write it in batches.

Re-indexing must not redo work (the big galleries' most asked-for fix), so the plan reads as
little as it can: a file whose path, size and modification time match its stored row is
unchanged and never opened; any other file is hashed, and a stored content hash under a path
that is gone means the file moved, so its vector is reused without running the model (as rclip
does). Only new content is embedded.

The writing is crash-safe: every commit is atomic (LanceDB), vectors are committed in batches
as they finish, and the moves and deletions go first, each moved row's insert and its old
row's delete in one commit. A ``kill -9`` loses at most the batch in flight; the re-run finds
the committed rows unchanged and continues.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from polymodal.errors import BadInputError, CancelledError
from polymodal.media.files import find_files
from polymodal.media.image import content_hash, is_image_file, read_header
from polymodal.progress import CancelToken, ProgressCallback, Reporter
from polymodal.search.records import ImageFacts, Skipped
from polymodal.search.schema import COLUMNS
from polymodal.vision import iter_image_batches

#: Rows per commit: large enough that commits cost little (a few ms each), small enough that
#: a crash loses seconds of work. A slow model also commits at least every ``COMMIT_SECONDS``.
COMMIT_ROWS = 256
COMMIT_SECONDS = 10.0
#: Paths per SQL ``IN (...)`` list when reading or deleting rows by path.
_PATHS_PER_QUERY = 1000


@dataclass(frozen=True)
class Stored:
    """A stored row's identity: content hash and the file's size and mtime when indexed."""

    hash: str
    size: int
    mtime: float


@dataclass
class Plan:
    """What an ingest will do, and (as it is written) what it did.

    ``embed`` needs the model; each ``reuse`` entry takes the vector stored under its source
    path (``moved``: the source's file is gone and its row goes; ``touched``: the same file
    with a new time; ``copy``: the same bytes as another stored file). ``known`` are the paths
    that had rows before, so written rows count as updated rather than added.
    """

    known: AbstractSet[str] = frozenset()
    unchanged: int = 0
    embed: list[ImageFacts] = field(default_factory=list)
    reuse: list[tuple[ImageFacts, str, str]] = field(default_factory=list)
    moved_from: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    moved: int = 0
    embedded: int = 0

    def wrote(self, facts: ImageFacts, kind: str) -> None:
        """Count a committed row: ``embedded``, ``moved``, ``touched`` or ``copy``."""
        if kind == "moved":
            self.moved += 1
        elif kind == "touched":
            self.unchanged += 1
        elif facts.path in self.known:
            self.updated += 1
        else:
            self.added += 1


# --- reading what is there --------------------------------------------------------------------


def scan(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[list[Path], list[Path]]:
    """The image files to index (absolute, sorted, hidden and linked folders skipped) and the
    named folders, whose stored rows without a file are removals (a file named directly
    removes nothing else)."""
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    found = find_files(items, is_image_file, kind="image", param="folder")
    folders = {Path(p).expanduser().resolve() for p in items if Path(p).expanduser().is_dir()}
    return [item.path.expanduser().resolve() for item in found], sorted(folders)


def stored_rows(table: Any) -> dict[str, Stored]:
    """Every stored row's path, hash, size and mtime (no vectors: a few columns of the table)."""
    data = table.search().select(["path", "hash", "size", "mtime"]).limit(None).to_arrow()
    columns = data.to_pydict()
    return {
        path: Stored(h, s, m)
        for path, h, s, m in zip(
            columns["path"], columns["hash"], columns["size"], columns["mtime"], strict=True
        )
    }


def probe(path: Path, stat: os.stat_result) -> ImageFacts:
    """Hash a file and read its header (never its pixels); raises BadInputError if unusable."""
    header = read_header(path)
    mtime = stat.st_mtime
    return ImageFacts(
        path=str(path),
        hash=content_hash(path, algorithm="sha1"),
        size=stat.st_size,
        mtime=mtime,
        width=header.width,
        height=header.height,
        date=header.taken_at or datetime.fromtimestamp(mtime),
        taken_at=header.taken_at,
        camera_make=header.camera_make,
        camera_model=header.camera_model,
    )


# --- planning ---------------------------------------------------------------------------------


def plan_ingest(
    files: Sequence[Path],
    roots: Sequence[Path],
    stored: dict[str, Stored],
    *,
    workers: int = 4,
    reporter: Reporter | None = None,
) -> Plan:
    """Sort every file into unchanged, to embed, or to reuse a stored vector; list removals."""
    plan = Plan(known=stored.keys())  # a view, not a copy of millions of paths
    changed: list[tuple[Path, os.stat_result]] = []
    for path in files:
        stat = _stat(path)
        if stat is None:
            continue  # vanished between the walk and now: nothing to index
        row = stored.get(str(path))
        if row is not None and row.size == stat.st_size and row.mtime == stat.st_mtime:
            plan.unchanged += 1
        else:
            changed.append((path, stat))
    present = {str(p) for p in files}
    gone = {p for p in stored if _under(p, roots) and p not in present}
    by_hash = _paths_by_hash(stored)
    for facts in _probed(changed, workers, plan, reporter, len(files)):
        _place(facts, stored, by_hash, gone, plan)
    plan.removed = sorted(gone - plan.moved_from)
    return plan


def _place(
    facts: ImageFacts,
    stored: dict[str, Stored],
    by_hash: dict[str, list[str]],
    gone: set[str],
    plan: Plan,
) -> None:
    """Decide one changed-looking file: same bytes as stored, a move, a copy, or new content."""
    own = stored.get(facts.path)
    if own is not None and own.hash == facts.hash:  # touched, not changed: keep its vector
        plan.reuse.append((facts, facts.path, "touched"))
        return
    sources = [p for p in by_hash.get(facts.hash, []) if p != facts.path]
    moved = [
        p for p in sources if p not in plan.moved_from and (p in gone or not os.path.exists(p))
    ]
    if moved:
        plan.moved_from.add(moved[0])
        plan.reuse.append((facts, moved[0], "moved"))
    elif sources:  # a copy of stored content: the same vector, no model run
        plan.reuse.append((facts, sources[0], "copy"))
    else:
        plan.embed.append(facts)


def _probed(
    changed: list[tuple[Path, os.stat_result]],
    workers: int,
    plan: Plan,
    reporter: Reporter | None,
    total: int,
) -> Iterator[ImageFacts]:
    """Probe files in threads (hashing is I/O and releases the GIL); bad ones become skips."""

    def one(item: tuple[Path, os.stat_result]) -> ImageFacts | Skipped:
        try:
            return probe(*item)
        except BadInputError as exc:
            return Skipped(str(item[0]), str(exc))

    done = plan.unchanged
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="polymodal-probe") as pool:
        for result in pool.map(one, changed):
            done += 1
            if reporter is not None and done % 64 == 0:
                reporter(done, total)
            if isinstance(result, Skipped):
                plan.skipped.append(result)
            else:
                yield result
    if reporter is not None:
        reporter(total, total)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(path.startswith(str(root) + os.sep) for root in roots)


def _paths_by_hash(stored: dict[str, Stored]) -> dict[str, list[str]]:
    by_hash: dict[str, list[str]] = {}
    for path, row in stored.items():
        by_hash.setdefault(row.hash, []).append(path)
    return by_hash


# --- writing ----------------------------------------------------------------------------------


def quoted(values: Iterable[str]) -> str:
    """A SQL list of string literals (single quotes doubled)."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def chunks(items: Sequence[Any], size: int = _PATHS_PER_QUERY) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rows(facts: Sequence[ImageFacts], vectors: np.ndarray, schema: pa.Schema) -> pa.Table:
    """An Arrow table of rows in the collection's schema."""
    columns: dict[str, list[Any]] = {name: [getattr(f, name) for f in facts] for name in COLUMNS}
    dim = schema.field("vector").type.list_size
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), pa.float32())
    data = {name: pa.array(values, COLUMNS[name]) for name, values in columns.items()}
    data["vector"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table(data, schema=schema)


def upsert(table: Any, data: pa.Table, *, delete_paths: Sequence[str] = ()) -> None:
    """Insert or replace rows by path, deleting ``delete_paths`` in the same commit."""
    if data.num_rows == 0 and not delete_paths:
        return
    merge = table.merge_insert("path").when_matched_update_all().when_not_matched_insert_all()
    if delete_paths:
        merge = merge.when_not_matched_by_source_delete(f"path IN ({quoted(delete_paths)})")
    merge.execute(data)


def vectors_of(table: Any, paths: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored vectors by path."""
    found: dict[str, np.ndarray] = {}
    for part in chunks(list(dict.fromkeys(paths))):
        data = (
            table.search()
            .where(f"path IN ({quoted(part)})")
            .select(["path", "vector"])
            .limit(None)
            .to_arrow()
        )
        matrix = vector_matrix(data.column("vector"))
        found.update(zip(data.column("path").to_pylist(), matrix, strict=True))
    return found


def vector_matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A fixed-size-list column as an (N, dim) float32 array."""
    array = column.combine_chunks()
    if len(array) == 0:
        return np.zeros((0, array.type.list_size), dtype=np.float32)
    return array.values.to_numpy(zero_copy_only=False).reshape(len(array), -1)


def write_reused(table: Any, plan: Plan, schema: pa.Schema) -> None:
    """Moves, copies and touched files first: their rows take stored vectors, and each moved
    file's old row goes in the same commit as its new one."""
    for part in chunks(plan.reuse):
        sources = vectors_of(table, [source for _, source, _ in part])
        kept = [entry for entry in part if entry[1] in sources]
        plan.embed.extend(f for f, src, _ in part if src not in sources)  # vanished meanwhile
        if kept:
            vectors = np.stack([sources[src] for _, src, _ in kept])
            old = [src for _, src, kind in kept if kind == "moved"]
            upsert(table, rows([f for f, _, _ in kept], vectors, schema), delete_paths=old)
            for facts, _, kind in kept:
                plan.wrote(facts, kind)


def delete_removed(table: Any, paths: Sequence[str]) -> None:
    for part in chunks(list(paths)):
        table.delete(f"path IN ({quoted(part)})")


class BatchWriter:
    """Collects embedded rows and commits them every ``COMMIT_ROWS`` rows or ``COMMIT_SECONDS``."""

    def __init__(self, table: Any, schema: pa.Schema, plan: Plan) -> None:
        self.table, self.schema, self.plan = table, schema, plan
        self.facts: list[ImageFacts] = []
        self.vectors: list[np.ndarray] = []
        self.last = time.monotonic()

    def add(self, facts: Sequence[ImageFacts], vectors: np.ndarray) -> None:
        self.facts.extend(facts)
        self.vectors.extend(vectors)
        if len(self.facts) >= COMMIT_ROWS or time.monotonic() - self.last >= COMMIT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.facts:
            upsert(self.table, rows(self.facts, np.stack(self.vectors), self.schema))
            for facts in self.facts:
                self.plan.wrote(facts, "embedded")
            self.plan.embedded += len(self.facts)
        self.facts, self.vectors, self.last = [], [], time.monotonic()


def embed_locally(
    paths: Sequence[str],
    encoder: Any,
    *,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[Sequence[str], np.ndarray, Sequence[Skipped]]]:
    """``(paths, vectors, skipped)`` per finished batch, from the vision room's pipeline."""
    batches = iter_image_batches(
        list(paths),
        model=encoder,
        cache=False,  # the collection itself keeps the vectors; a second copy would only grow
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
    )
    for batch in batches:
        yield batch.paths, batch.vectors, [Skipped(f.path, f.reason) for f in batch.failures]


def write_embedded(
    table: Any,
    plan: Plan,
    schema: pa.Schema,
    batches: Iterable[tuple[Sequence[str], np.ndarray, Sequence[Skipped]]],
) -> None:
    """Commit embedded batches as they come (counted in ``plan``), on this machine or from a
    cluster. A cancelled run commits what it has before it stops, so the re-run skips it."""
    by_path = {facts.path: facts for facts in plan.embed}
    writer = BatchWriter(table, schema, plan)
    try:
        for paths, vectors, skipped in batches:
            writer.add([by_path[p] for p in paths], vectors)
            plan.skipped.extend(skipped)
    except CancelledError:
        writer.flush()
        raise
    writer.flush()
