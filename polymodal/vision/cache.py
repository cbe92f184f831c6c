"""The persistent embedding cache: every image and text is embedded once per model, ever.

Keys are ``(model_id, content hash of the file's bytes)`` for images, so a renamed, moved or
copied photo is still a hit and an edited one is not; texts are keyed by ``(model_id, text)``.
Storage is one SQLite database under ``settings().cache_dir`` in WAL mode: readers never block
the writer, several processes (CLI runs, the server) share it safely, and a crash mid-write
loses at most the batch in flight, never the file. Vectors are float32 blobs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymodal.config import settings
from polymodal.errors import BusyError, PolymodalError

SCHEMA_VERSION = 1
_BATCH = 500  # SQLite keeps a limit on bound parameters per statement
_BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    model_id TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (model_id, hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS texts (
    model_id TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (model_id, text)) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ModelCacheStats:
    """Entries stored for one model id."""

    model_id: str
    images: int
    texts: int


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds: its file, total size on disk, and entries per model."""

    path: str
    size_bytes: int
    images: int
    texts: int
    models: tuple[ModelCacheStats, ...]


def default_path() -> Path:
    """``<cache_dir>/embeddings.sqlite3`` (``POLYMODAL_HOME`` moves it)."""
    return settings().cache_dir / "embeddings.sqlite3"


class EmbeddingCache:
    """A thread-safe handle on the cache database (one connection, guarded by a lock)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    # -- connection ----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
            self._initialise_with_retries(db)
        except sqlite3.DatabaseError as exc:
            raise PolymodalError(
                f"The embedding cache '{self.path}' cannot be opened ({exc}); clear the "
                "embedding cache (polymodal cache clear or polymodal.clear_cache()) to start "
                "a fresh one."
            ) from exc
        self._db = db
        return db

    def _initialise_with_retries(self, db: sqlite3.Connection) -> None:
        """Set up WAL mode and the schema, retrying while another opener holds the lock.

        Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is
        locked" at once (without waiting out the busy timeout) when two processes open a fresh
        cache at the same moment; retrying until the other one is done is the documented remedy.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                self._initialise(db)
                return
            except PolymodalError:
                db.close()
                raise
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    db.close()
                    raise
                if time.monotonic() > deadline:
                    db.close()
                    raise self._busy() from exc
                db.rollback()
                time.sleep(0.02)

    def _initialise(self, db: sqlite3.Connection) -> None:
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")  # persistent: only the first opener sets it
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise PolymodalError(
                f"The embedding cache '{self.path}' was written by a newer polymodal "
                f"(schema {version} > {SCHEMA_VERSION}); upgrade polymodal, or clear the "
                "embedding cache (polymodal cache clear or polymodal.clear_cache())."
            )
        if version < SCHEMA_VERSION:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.commit()

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- lookups and stores --------------------------------------------------------------------

    def _get(self, table: str, column: str, model_id: str, keys: Sequence[str]) -> dict:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            db = self._connect()
            for start in range(0, len(unique), _BATCH):
                chunk = unique[start : start + _BATCH]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT {column}, vector FROM {table} WHERE model_id = ? "
                    f"AND {column} IN ({marks})",
                    [model_id, *chunk],
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def _put(self, table: str, model_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        now = time.time()
        rows = [
            (model_id, key, np.ascontiguousarray(vector, dtype=np.float32).tobytes(), now)
            for key, vector in items
        ]
        if not rows:
            return
        with self._lock:
            db = self._connect()
            try:
                with db:  # one transaction: all of the batch or none of it
                    db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?)", rows)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    raise self._busy() from exc
                raise

    def _busy(self) -> BusyError:
        """Another process held the cache past the wait: capacity, not a fault of the input."""
        return BusyError(
            f"The embedding cache '{self.path}' was held by another process for over "
            f"{_BUSY_TIMEOUT_S:.0f} s; try again when it has finished."
        )

    def get_images(self, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the given content hashes (missing ones are absent)."""
        return self._get("images", "hash", model_id, hashes)

    def put_images(self, model_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store ``(content hash, vector)`` pairs."""
        self._put("images", model_id, items)

    def get_texts(self, model_id: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the given texts (missing ones are absent)."""
        return self._get("texts", "text", model_id, texts)

    def put_texts(self, model_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store ``(text, vector)`` pairs."""
        self._put("texts", model_id, items)

    # -- maintenance ---------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Entries per model and the database's size on disk (with its WAL file)."""
        counts: dict[str, list[int]] = {}
        with self._lock:
            db = self._connect()
            for index, table in enumerate(("images", "texts")):
                query = f"SELECT model_id, COUNT(*) FROM {table} GROUP BY model_id"
                for model_id, count in db.execute(query):
                    counts.setdefault(model_id, [0, 0])[index] = count
        size = sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )
        models = tuple(ModelCacheStats(m, c[0], c[1]) for m, c in sorted(counts.items()))
        return CacheStats(
            path=str(self.path),
            size_bytes=size,
            images=sum(m.images for m in models),
            texts=sum(m.texts for m in models),
            models=models,
        )

    def clear(self, model_id: str | None = None) -> int:
        """Remove every entry (or one model's); returns how many were removed.

        Clearing everything deletes the database files, which also recovers from a corrupt one.
        """
        if model_id is None:
            removed = 0
            try:
                stats = self.stats()
                removed = stats.images + stats.texts
            except PolymodalError:
                pass
            self.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return removed
        with self._lock:
            db = self._connect()
            with db:
                removed = sum(
                    db.execute(f"DELETE FROM {t} WHERE model_id = ?", [model_id]).rowcount
                    for t in ("images", "texts")
                )
        return removed


_shared: dict[Path, EmbeddingCache] = {}
_shared_lock = threading.Lock()


def get_cache(path: str | Path | None = None) -> EmbeddingCache:
    """The process-wide cache handle for ``path`` (default: under the current cache dir)."""
    resolved = Path(path) if path else default_path()
    with _shared_lock:
        if resolved not in _shared:
            _shared[resolved] = EmbeddingCache(resolved)
        return _shared[resolved]


def cache_stats() -> CacheStats:
    """Entries per model and size on disk of the current embedding cache."""
    return get_cache().stats()


def clear_cache(model_id: str | None = None) -> int:
    """Empty the embedding cache (or one model's entries); returns entries removed."""
    return get_cache().clear(model_id)
