"""Nearest-neighbour queries through LanceDB's async API, on one event loop per process.

Why not the sync API the rest of the room uses: LanceDB's sync query builder makes several
round trips to its own event-loop thread per query, and on this machine's 2 cores those hops
cost as much as the search. On a 10-row table its floor was 3.6 ms against the async API's
1.7 ms; on 100k clustered vectors (``bench/search.py``'s data, 20 probes, refine 2, a loaded
machine) 10.6 ms against 6.8 ms for the same rows. So a query is one coroutine, submitted to
a loop that runs in a daemon thread for the life of the process (one hop there and back).
Writes, counts and schema reads stay on the sync API: they are not on a search's hot path.
The async table is held once opened, checking for a newer version on every read, so a search
sees each committed batch; a table dropped and made again is opened anew.

The loop and the async connections belong to the process that made them: a forked child (a
Ray or multiprocessing worker) makes its own, since threads do not survive a fork.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from polymodal.search import ann

_guard = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
_connections: dict[tuple[int, str], Any] = {}
_tables: dict[tuple[int, str, str], Any] = {}
_ALWAYS = timedelta(0)


def _running_loop() -> asyncio.AbstractEventLoop:
    """This process's query loop, started on first use."""
    global _loop
    with _guard:
        if _loop is None or _loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="polymodal-lancedb", daemon=True).start()
            _loop = (os.getpid(), loop)
            _connections.clear()
            _tables.clear()
        return _loop[1]


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` on the query loop and wait for its result (its exception re-raised)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _running_loop()).result()


async def _connection(uri: str) -> Any:
    import lancedb

    key = (os.getpid(), uri)
    if key not in _connections:
        # Every read checks for a newer version (a manifest look-up), so a held table sees
        # each committed batch at once: cheaper than opening it per query (7.5 against 8.3 ms
        # a query on 1M rows).
        _connections[key] = await lancedb.connect_async(uri, read_consistency_interval=_ALWAYS)
    return _connections[key]


async def _table(uri: str, name: str, *, fresh: bool = False) -> Any:
    key = (os.getpid(), uri, name)
    if fresh or key not in _tables:
        _tables[key] = await (await _connection(uri)).open_table(name)
    return _tables[key]


async def _nearest(
    uri: str,
    name: str,
    vector: np.ndarray,
    columns: Sequence[str],
    limit: int,
    where: str | None,
    rows: int,
    matching: int | None,
) -> Any:
    try:
        return await _query(await _table(uri, name), vector, columns, limit, where, rows, matching)
    except Exception:  # dropped and made again since it was opened: open it anew, once
        table = await _table(uri, name, fresh=True)
        return await _query(table, vector, columns, limit, where, rows, matching)


async def _query(
    table: Any,
    vector: np.ndarray,
    columns: Sequence[str],
    limit: int,
    where: str | None,
    rows: int,
    matching: int | None,
) -> Any:
    query = (
        table.query()
        .nearest_to(np.asarray(vector, dtype=np.float32))
        .column(ann.VECTOR_COLUMN)
        .distance_type(ann.METRIC)
        .select(list(columns))
        .limit(limit)
    )
    if where:
        query = query.where(where)  # a prefilter: the async API's default
    query = ann.tune_query(query, rows, filtered=bool(where), matching=matching)
    return await query.to_arrow()


def nearest(
    uri: str,
    name: str,
    vector: np.ndarray,
    *,
    columns: Sequence[str],
    limit: int,
    rows: int,
    where: str | None = None,
    matching: int | None = None,
) -> Any:
    """The ``limit`` rows of table ``name`` nearest ``vector`` by cosine, as an Arrow table of
    ``columns`` (``_distance`` among them if wanted), tuned for a table of ``rows`` rows by
    :func:`ann.tune_query` (``matching``: the rows ``where`` leaves, when counted)."""
    return run(_nearest(uri, name, vector, columns, limit, where, rows, matching))
