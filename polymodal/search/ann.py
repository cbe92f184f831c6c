"""When a collection's vector index is built, rebuilt or just updated, and how a query is tuned.

The table is LanceDB's (0.40): a ``vector`` column of unit-normalised CLIP embeddings searched by
cosine, plus the photo columns that ``where`` filters read. Everything here is decided from the
table's size, so ingest, search and tests agree without storing settings anywhere:

* :func:`index_plan` says which index to build and how to probe it (``None``: none at all);
* :func:`refresh_index`, run after every ingest, builds, retrains or folds in new rows, and
  indexes the filter columns;
* :func:`tune_query` sets the probes a query needs for the index the plan built.

Why IVF_SQ with a small refine. Measured with ``bench/search.py`` on 1M clustered 512-d vectors
shaped like CLIP embeddings, k=10, one query at a time through LanceDB's sync Python API, on 2
CPU cores shared with other work (latencies move by +-2 ms with the load, so ranges are over
runs; "lance" is the time inside LanceDB from ``analyze_plan``, the rest is the sync API):

====================================  =======  =======  ==========  ===========================
index on 1M rows                      build s  p50 ms   recall@10   filtered p50 ms (recall)
====================================  =======  =======  ==========  ===========================
IVF_SQ 1000 parts, 20 probes, rf 2    59-99    5.7-8.6  0.98-0.985  8.9-10.3 (0.966-0.968)
  lance: 3.1 ms                                                     at 30 probes
IVF_SQ, 20 probes, no refine          59-99    6.5-7.3  0.96-0.966
IVF_HNSW_SQ, 1 graph, ef 160          439-471  5.0-7.5  0.975-0.977 32-39 (0.986-0.99)
  ef 320: same recall; lance 1.7 ms
IVF_RQ 1000 parts, 40 probes, rf 10   118      9.8      0.9935      51 (1.0)
====================================  =======  =======  ==========  ===========================

The graph is the fastest inside LanceDB (its walk grows with log(rows)), but its 8-bit codes cap
recall near 0.975 however wide the walk, LanceDB's masked walk under a ``where`` keeping 10 % of
rows took 32-39 ms, and it builds 5-8x slower. IVF_SQ's refine (re-reading 2 candidates per
result in full precision, 0.7 ms) lifts recall past the codes' limit. On 100k rows IVF_PQ was
slower still (316 partitions x 64 sub-vectors: built in 166 s, recall 0.964 at 20 probes and
refine 10, 7.6 ms). Of the issue's goals the 1M run met recall (0.98), the filtered query (8.95
ms, recall 0.966) and the text query (25 ms), and missed unfiltered p50 <= 5 ms (5.7 ms): the
sync API's own floor is 3.6 ms (see :func:`tune_query`). Through the async query path
(:mod:`polymodal.search.query`) the same 1M rows gave p50 4.8 ms at recall 0.99, filtered 6.9
ms at 0.97 (its camera column with a BITMAP index), at load 3.3.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

VECTOR_COLUMN = "vector"
METRIC = "cosine"

#: Columns a ``where`` filters on (the collection's layout, ``schema.COLUMNS``); each one present
#: in the table gets a scalar index.
FILTER_COLUMNS = (
    "width",
    "height",
    "size",
    "mtime",
    "taken_at",
    "date",
    "camera_make",
    "camera_model",
)

#: Below this many rows no vector index is built: LanceDB's flat scan is exact and as fast.
#: Flat p50 (512-d, k=10) was 6.1 ms at 1k rows, 6.4 at 2k, 7.4 at 3k, 9.9 at 5k, 15.7 at 10k,
#: 27.6-46 at 20k, 111 at 50k (far above numpy's, which keeps the matrix in memory); the index
#: answered in 6.1-7.4 ms at recall 1.0 from 1k to 20k rows and built in 0.1-1 s. Tests lower
#: it with ``monkeypatch`` or build a small table's index with ``force``.
ANN_MIN_ROWS = 3_000

#: Rows per IVF partition up to 1M rows (1000 partitions there); beyond, sqrt(rows) partitions.
#: Few rows per partition keep a probe cheap; kmeans training grows with the partitions squared.
ROWS_PER_PARTITION = 1_000

#: Partitions a query visits. At 1M rows: 15 probes gave recall 0.978, 20 gave 0.985, 25
#: 0.993, 30 0.995 (refine 2), each 5 probes about +0.4 ms inside LanceDB.
NPROBES = 20

#: Partitions a filtered query visits: the 10 nearest rows that pass a filter keeping 10 % of
#: rows lie farther out, over more partitions. At 1M rows recall was 0.957 at 20 probes, 0.968
#: at 30 (9.6-10.3 ms), 0.972 at 40, 0.978 at 50 (12.2 ms); at 100k rows, where the passing
#: rows are ten times sparser, 0.912 at 30, 0.972 at 50 (7.4 ms), 0.992 at 70 - hence more
#: probes below FILTERED_LARGE_FROM rows, where they still fit the 10 ms goal. Raising
#: ``maximum_nprobes`` is no cheaper way out: under a prefilter LanceDB 0.40 searches every
#: partition up to it (``maximum_nprobes(0)``: all 1000, 54 ms against 10 ms).
FILTERED_NPROBES_SMALL, FILTERED_NPROBES, FILTERED_LARGE_FROM = 50, 30, 500_000

#: Candidates per result re-ranked with the full vectors: 2 lifted recall from 0.966 to 0.985
#: at 20 probes (1M rows); 4 gave the same.
REFINE_FACTOR = 2

#: A string column with at most this many distinct values gets a BITMAP index (one bitmap per
#: value: camera models, a few dozen per collection); others get a BTREE.
BITMAP_MAX_DISTINCT = 1_000

#: Retrain once the table holds this many times the rows the index was trained on. Until then
#: ``optimize()`` folds new rows into the trained partitions (rows added after indexing are
#: searched by brute force until it runs), and each probe scans more rows: doubling the rows
#: scanned (40 probes instead of 20 at 1M) cost 1.3 ms inside LanceDB.
REBUILD_GROWTH = 2

_NAME_PREFIX = f"{VECTOR_COLUMN}_ann_"
_NAME = re.compile(rf"^{_NAME_PREFIX}(\d+)$")


@dataclass(frozen=True)
class IndexPlan:
    """How the vector index is built (``index_type`` ... ``sample_rate``) and probed.

    ``nprobes`` / ``filtered_nprobes`` are how many IVF partitions a query without / with a
    ``where`` visits, ``refine_factor`` how many candidates per result are re-ranked with the
    full vectors (``None``: the index's quantised distances as they are), ``ef`` how many
    candidates a graph walk keeps (HNSW types only), ``num_sub_vectors`` is for IVF_PQ only.
    ``trained_rows`` is the table size the plan was made for.
    """

    index_type: str
    num_partitions: int
    nprobes: int
    filtered_nprobes: int
    refine_factor: int | None
    trained_rows: int
    num_sub_vectors: int | None = None
    ef: int | None = None
    ef_construction: int = 150
    sample_rate: int = 256

    @property
    def name(self) -> str:
        """The index's name records the rows it was trained on (see :func:`refresh_index`)."""
        return f"{_NAME_PREFIX}{self.trained_rows}"

    def config(self) -> Any:
        """The ``lancedb.index`` configuration object that ``create_index`` takes."""
        from lancedb.index import HnswSq, IvfPq, IvfRq, IvfSq

        common = {
            "distance_type": METRIC,
            "num_partitions": self.num_partitions,
            "sample_rate": self.sample_rate,
        }
        if self.index_type == "IVF_HNSW_SQ":
            return HnswSq(ef_construction=self.ef_construction, **common)
        if self.index_type == "IVF_SQ":
            return IvfSq(**common)
        if self.index_type == "IVF_RQ":
            return IvfRq(**common)
        if self.index_type == "IVF_PQ":
            return IvfPq(num_sub_vectors=self.num_sub_vectors, **common)
        raise ValueError(f"unknown index type {self.index_type!r}")

    def tune(self, query: Any, *, filtered: bool) -> Any:
        """Set this plan's probes on a LanceDB vector query builder (sync or async)."""
        query = query.nprobes(self.filtered_nprobes if filtered else self.nprobes)
        if self.refine_factor:
            query = query.refine_factor(self.refine_factor)
        if self.ef:
            query = query.ef(self.ef)
        return query


def index_plan(rows: int) -> IndexPlan | None:
    """The index for a table of ``rows`` rows, or ``None`` below :data:`ANN_MIN_ROWS`."""
    if rows < ANN_MIN_ROWS:
        return None
    return _plan_for(rows)


def _plan_for(rows: int) -> IndexPlan:
    """The plan at any size (also below :data:`ANN_MIN_ROWS`, for a forced build)."""
    if rows <= ROWS_PER_PARTITION**2:
        partitions = max(1, rows // ROWS_PER_PARTITION)
    else:
        partitions = round(math.sqrt(rows))
    filtered = FILTERED_NPROBES_SMALL if rows < FILTERED_LARGE_FROM else FILTERED_NPROBES
    return IndexPlan(
        index_type="IVF_SQ",
        num_partitions=partitions,
        nprobes=min(partitions, NPROBES),
        filtered_nprobes=min(partitions, filtered),
        refine_factor=REFINE_FACTOR,
        trained_rows=rows,
    )


def build_index(table: Any, plan: IndexPlan) -> None:
    """Train ``plan``'s vector index on ``table``, then drop any other index on the column.

    LanceDB keeps two vector indexes on one column when their names differ, so the old one goes
    only once the new one exists: queries never fall back to a flat scan meanwhile.
    """
    table.create_index(VECTOR_COLUMN, config=plan.config(), name=plan.name, replace=True)
    for index in _vector_indexes(table):
        if index.name != plan.name:
            table.drop_index(index.name)


def refresh_index(table: Any, *, force: bool = False) -> str:
    """Bring ``table``'s indexes up to date after rows were added; say what was done.

    Returns ``"built"`` (the first vector index), ``"rebuilt"`` (retrained: the table reached
    :data:`REBUILD_GROWTH` times the rows the index was trained on, or the index was not made
    for cosine), ``"optimized"`` (rows added since were folded into the indexes by
    ``table.optimize()``) or ``"none"``. ``force`` builds the vector index whatever the
    table's size; an up-to-date index is kept (retraining 1M rows takes 1-2 minutes). Scalar
    indexes on :data:`FILTER_COLUMNS` come with the vector index and are kept current by the
    same ``optimize()``; a table too small for one gets neither.

    The rows an index was trained on are read from its name (``vector_ann_<rows>``): LanceDB
    0.40 reports only the rows an index covers, which ``optimize()`` raises as it folds rows in.
    """
    rows = table.count_rows()
    existing = _vector_indexes(table)
    if not existing and (rows == 0 or (rows < ANN_MIN_ROWS and not force)):
        return "none"
    action = "none"
    if not existing or _needs_rebuild(table, existing, rows):
        build_index(table, _plan_for(rows))
        action = "rebuilt" if existing else "built"
    ensure_scalar_indexes(table)
    if any(index.num_unindexed_rows for index in table.list_indices()):
        table.optimize()
        action = "optimized" if action == "none" else action
    return action


def _vector_indexes(table: Any) -> list[Any]:
    return [index for index in table.list_indices() if index.columns == [VECTOR_COLUMN]]


def _needs_rebuild(table: Any, existing: list[Any], rows: int) -> bool:
    """Retrain when the table outgrew the index, or the index is not one this module made."""
    if len(existing) != 1:
        return True
    index = existing[0]
    stats = table.index_stats(index.name)
    if stats is None or stats.distance_type != METRIC:
        return True
    match = _NAME.match(index.name)
    trained = int(match.group(1)) if match else (index.num_indexed_rows or 0)
    return rows >= REBUILD_GROWTH * max(trained, 1)


def ensure_scalar_indexes(table: Any) -> list[str]:
    """Index each filter column present in ``table`` that has no index yet; return their names.

    A prefiltered ``where`` is evaluated before the vector search: with an index that is a
    lookup (0.2 ms for a camera on 100k rows, 0.6 ms on 1M), without one a scan of the column.
    """
    import pyarrow as pa
    from lancedb.index import Bitmap, BTree

    schema = table.schema
    indexed = {column for index in table.list_indices() for column in index.columns}
    created = []
    for column in FILTER_COLUMNS:
        if column not in schema.names or column in indexed:
            continue
        kind = schema.field(column).type
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        few = text and _distinct(table, column) <= BITMAP_MAX_DISTINCT
        name = f"{column}_idx"
        table.create_index(column, config=Bitmap() if few else BTree(), name=name, replace=True)
        created.append(name)
    return created


def _distinct(table: Any, column: str) -> int:
    import pyarrow.compute as pc

    values = table.search().select([column]).limit(None).to_arrow()[column]
    return pc.count_distinct(values).as_py()


#: A ``where`` that leaves at most this many rows is searched exactly, without the index: the
#: index's probes may hold fewer than ``k`` of so few rows (a filter keeping 0.3 % of 1M rows
#: returned 74 of 100), and a flat scan of them costs what the probes cost (7.4 ms at 3k rows).
EXACT_FILTERED_ROWS = 3_000


def tune_query(query: Any, rows: int, *, filtered: bool, matching: int | None = None) -> Any:
    """Set the probes on a vector query for a table of ``rows`` rows; return the query.

    ``query`` is LanceDB's vector query builder, sync (``table.search(vec).metric("cosine")``)
    or async (``table.query().nearest_to(vec).distance_type("cosine")``). Below
    :data:`ANN_MIN_ROWS` there is no index to tune and the query comes back untouched.
    ``filtered`` says a ``where`` is applied (it gets :data:`FILTERED_NPROBES`): give it with
    ``prefilter=True`` (LanceDB's default), so the filter runs first and ``limit`` counts rows
    that pass it. A postfilter filters the k found: with a camera filter keeping 10 % of 100k
    rows it returned 0.92 rows on average for a limit of 10.

    Which API runs the query costs as much as the search: on a 10-row table the sync builder's
    floor was 3.6 ms (several round trips to LanceDB's event-loop thread per query), the async
    API's 1.7 ms; on 1M rows the async API took 2.9 ms where the sync one took 5.0 (HNSW), and
    5.5 against 5.7 (IVF_SQ, in a busier run). ``matching``, the rows the filter leaves
    (``table.count_rows(where)``, about 1 ms), sends a narrow filter to an exact flat scan
    (:data:`EXACT_FILTERED_ROWS`).
    """
    plan = index_plan(rows)
    if plan is None:
        return query
    if filtered and matching is not None and matching <= EXACT_FILTERED_ROWS:
        return query.bypass_vector_index()
    return plan.tune(query, filtered=filtered)
