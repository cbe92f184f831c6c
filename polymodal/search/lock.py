"""One writer per collection: an advisory lock file beside the table.

LanceDB commits are atomic, but two writers' ``merge_insert`` and ``delete`` commits conflict
and one fails mid-ingest, so a second ``polymodal index`` on the same collection is refused up
front with a sentence. Readers never take the lock: a search runs while an ingest commits.
The lock is ``flock`` on a local file, released by the kernel when its process dies (a
``kill -9`` leaves no stale lock). Collections on an object store (``s3://``, ``gs://``) have no
local file to lock; keep one writer per collection there yourself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from polymodal.errors import BusyError

_held: set[str] = set()  # lock files this process holds: taking one again is a no-op


def is_local(uri: str) -> bool:
    """Whether a database URI is a local folder (not ``scheme://``)."""
    return "://" not in uri or uri.startswith("file://")


@contextlib.contextmanager
def writer_lock(uri: str, name: str) -> Iterator[None]:
    """Hold the collection's writer lock for the block, or raise :class:`BusyError` at once.

    Re-entrant within a process (an ingest that opens a table needing migration already holds
    it); ``flock`` itself would refuse a second descriptor of the same process.
    """
    if not is_local(uri):
        yield
        return
    folder = Path(uri.removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.lock"
    if str(path) in _held:
        yield
        return
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BusyError(
                f"Collection '{name}' is being written by {holder}; try again when it "
                "finishes (searching it works meanwhile).",
                param="collection",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        _held.add(str(path))
        try:
            yield
        finally:
            _held.discard(str(path))
    finally:
        handle.close()  # closing releases the lock
