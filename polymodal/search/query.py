"""Nearest-neighbour queries through LanceDB's async API, on one event loop per process.

Why not the sync API the rest of the room uses: LanceDB's sync query builder makes several
round trips to its own event-loop thread per query, and on this machine's 2 cores those hops
cost as much as the search. On a 10-row table its floor was 3.6 ms against the async API's
1.7 ms; on 100k clustered vectors (``bench/search.py``'s data, 20 probes, refine 2, a loaded
machine) 10.6 ms against 6.8 ms for the same rows. So a query is one coroutine, submitted to
a loop that runs in a daemon thread for the life of the process (one hop there and back).
Writes, counts and schema reads stay on the sync API: they are not on a search's hot path.

The loop and the async connections belong to the process that made them: a forked child (a
Ray or multiprocessing worker) makes its own, since threads do not survive a fork.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import numpy as np

from polymodal.search import ann

_guard = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
_connections: dict[tuple[int, str], Any] = {}


def _running_loop() -> asyncio.AbstractEventLoop:
    """This process's query loop, started on first use."""
    global _loop
    with _guard:
        if _loop is None or _loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="polymodal-lancedb", daemon=True).start()
            _loop = (os.getpid(), loop)
            _connections.clear()
        return _loop[1]


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` on the query loop and wait for its result (its exception re-raised)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _running_loop()).result()


async def _connection(uri: str) -> Any:
    import lancedb

    key = (os.getpid(), uri)
    if key not in _connections:
        _connections[key] = await lancedb.connect_async(uri)
    return _connections[key]


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
    # Opened per query (about as cheap as the hop) so a search sees every committed batch.
    table = await (await _connection(uri)).open_table(name)
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
