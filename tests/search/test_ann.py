"""The vector index's life cycle on small LanceDB tables: when it is built, folded, rebuilt, and
how a query is tuned for it. Tables of a few thousand clustered 32-d vectors build in well
under a second, so each test makes its own."""

from __future__ import annotations

import dataclasses

import lancedb
import numpy as np
import pyarrow as pa
import pytest
from lancedb.index import IvfFlat

from polymodal.search import ann

DIM = 32


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres, like embeddings (uniform noise makes IVF look broken)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((40, DIM))
    vectors = centres[rng.integers(0, 40, count)] + 0.3 * rng.standard_normal((count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def photo_rows(
    vectors: np.ndarray, start: int = 0, *, columns=("width", "camera_make")
) -> pa.Table:
    count = len(vectors)
    data = {
        "path": pa.array([f"p{i}" for i in range(start, start + count)]),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
    }
    known = {
        "width": pa.array(np.arange(count) % 7 * 1000, pa.int32()),
        "height": pa.array(np.arange(count) % 5 * 1000, pa.int32()),
        "taken_at": pa.array([None] * count, pa.timestamp("us")),
        "camera_make": pa.array([f"cam{i % 4}" for i in range(count)]),
    }
    data.update({name: known[name] for name in columns})
    return pa.table(data)


@pytest.fixture
def make_table(tmp_path):
    db = lancedb.connect(tmp_path / "db")

    def make(count: int, **options):
        vectors = clustered(count)
        return db.create_table(f"t{count}", photo_rows(vectors, **options)), vectors

    return make


def vector_indexes(table) -> list:
    return [index for index in table.list_indices() if index.columns == ["vector"]]


def nearest_paths(table, vector, rows: int) -> list[str]:
    query = table.search(vector).metric("cosine").select(["path", "_distance"]).limit(3)
    return ann.tune_query(query, rows, filtered=False).to_arrow().column("path").to_pylist()


def test_no_plan_below_the_threshold_and_a_sane_one_above():
    assert ann.index_plan(0) is None
    assert ann.index_plan(ann.ANN_MIN_ROWS - 1) is None
    plans = {rows: ann.index_plan(rows) for rows in (ann.ANN_MIN_ROWS, 1_000_000, 8_000_000)}
    for rows, plan in plans.items():
        assert plan is not None and plan.trained_rows == rows
        assert 1 <= plan.nprobes <= plan.filtered_nprobes <= plan.num_partitions <= rows // 100
        assert plan.ef is None or plan.ef >= 10  # HNSW keeps at least k candidates
    assert plans[8_000_000].num_partitions > plans[ann.ANN_MIN_ROWS].num_partitions
    with pytest.raises(dataclasses.FrozenInstanceError):
        plans[1_000_000].nprobes = 1  # type: ignore[misc]


def test_a_small_table_gets_no_index(make_table):
    table, _ = make_table(ann.ANN_MIN_ROWS - 1)
    assert ann.refresh_index(table) == "none"
    assert list(table.list_indices()) == []


def test_forced_index_is_listed_and_a_stored_vector_finds_its_own_row(make_table):
    table, vectors = make_table(3_000)
    assert ann.refresh_index(table, force=True) == "built"
    (index,) = vector_indexes(table)
    assert index.num_indexed_rows == 3_000
    assert table.index_stats(index.name).distance_type == "cosine"
    for row in (0, 1_234, 2_999):
        assert nearest_paths(table, vectors[row], 3_000)[0] == f"p{row}"
    assert ann.refresh_index(table, force=True) == "none"  # up to date: not retrained
    assert [i.index_uuid for i in vector_indexes(table)] == [index.index_uuid]


def test_tune_query_sets_the_plans_probes_above_the_threshold(make_table, monkeypatch):
    table, vectors = make_table(3_000)
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    monkeypatch.setattr(ann, "ROWS_PER_PARTITION", 50)  # 60 partitions: probes matter
    assert ann.refresh_index(table) == "built"  # large enough now, no force needed
    plan = ann.index_plan(3_000)
    assert plan.nprobes < plan.filtered_nprobes < plan.num_partitions
    query = table.search(vectors[7]).metric("cosine").limit(5)
    sent = ann.tune_query(query, 3_000, filtered=False).to_query_object()
    assert (sent.minimum_nprobes, sent.maximum_nprobes) == (plan.nprobes, plan.nprobes)
    assert sent.refine_factor == plan.refine_factor
    filtered = table.search(vectors[7]).metric("cosine").where("camera_make = 'cam1'").limit(5)
    sent = ann.tune_query(filtered, 3_000, filtered=True).to_query_object()
    wider = plan.filtered_nprobes
    assert (sent.minimum_nprobes, sent.maximum_nprobes) == (wider, wider) and sent.refine_factor
    assert nearest_paths(table, vectors[7], 3_000)[0] == "p7"


def test_tune_query_leaves_a_small_tables_query_alone(make_table):
    table, vectors = make_table(2_000)
    sent = ann.tune_query(table.search(vectors[0]).limit(5), 2_000, filtered=True)
    sent = sent.to_query_object()
    assert (sent.minimum_nprobes, sent.maximum_nprobes, sent.refine_factor) == (None, None, None)


def test_rows_added_after_indexing_are_folded_in_by_optimize(make_table):
    table, _ = make_table(3_000)
    ann.refresh_index(table, force=True)
    built = vector_indexes(table)[0].name
    extra = clustered(500, seed=1)
    table.add(photo_rows(extra, start=3_000))
    assert vector_indexes(table)[0].num_unindexed_rows == 500
    assert ann.refresh_index(table) == "optimized"
    (index,) = vector_indexes(table)
    assert (index.name, index.num_indexed_rows, index.num_unindexed_rows) == (built, 3_500, 0)
    assert all(i.num_unindexed_rows == 0 for i in table.list_indices())
    assert nearest_paths(table, extra[10], 3_500)[0] == "p3010"
    assert ann.refresh_index(table) == "none"


def test_a_table_that_outgrew_its_index_is_retrained(make_table):
    table, _ = make_table(1_000)
    ann.refresh_index(table, force=True)
    table.add(photo_rows(clustered(ann.REBUILD_GROWTH * 1_000, seed=2), start=1_000))
    assert ann.refresh_index(table) == "rebuilt"
    (index,) = vector_indexes(table)  # the old index is dropped, not kept beside the new
    assert index.num_indexed_rows == (ann.REBUILD_GROWTH + 1) * 1_000
    assert ann.refresh_index(table) == "none"


def test_an_index_with_another_metric_is_replaced(make_table):
    table, _ = make_table(2_000)
    table.create_index("vector", config=IvfFlat(distance_type="l2", num_partitions=4))
    assert ann.refresh_index(table) == "rebuilt"
    (index,) = vector_indexes(table)
    assert table.index_stats(index.name).distance_type == "cosine"


def test_scalar_indexes_cover_the_filter_columns_present(make_table):
    table, _ = make_table(2_000, columns=("width", "height", "taken_at", "camera_make"))
    ann.refresh_index(table, force=True)
    kinds = {i.columns[0]: i.index_type for i in table.list_indices() if i.columns != ["vector"]}
    assert kinds == {
        "width": "BTree",
        "height": "BTree",
        "taken_at": "BTree",
        "camera_make": "Bitmap",
    }
    assert not {"size", "mtime"} & set(kinds)  # absent from this table: nothing to index
    found = table.search(clustered(1)[0]).metric("cosine").where("camera_make = 'cam2'").limit(20)
    cameras = ann.tune_query(found, 2_000, filtered=True).to_arrow().column("camera_make")
    assert set(cameras.to_pylist()) == {"cam2"} and len(cameras) == 20


def test_a_narrow_filter_is_searched_exactly(make_table):
    """A filter leaving few rows: the index's probes may hold fewer than k of them, so with the
    matching count given the query scans those rows exactly (the k nearest, in order)."""
    table, vectors = make_table(5_000)
    ann.refresh_index(table, force=True)
    where = "camera_make = 'cam1' AND width = 0"
    matching = table.count_rows(where)
    assert 0 < matching <= ann.EXACT_FILTERED_ROWS
    query = vectors[13]
    found = (
        table.search(query)
        .metric("cosine")
        .where(where, prefilter=True)
        .select(["path", "_distance"])
        .limit(50)
    )
    exact_query = ann.tune_query(found, 5_000, filtered=True, matching=matching)
    assert "ANN" not in exact_query.explain_plan()  # a flat scan, not the index's probes
    paths = exact_query.to_arrow()
    allowed = [i for i in range(5_000) if i % 4 == 1 and i % 7 == 0]
    exact = sorted(allowed, key=lambda i: -float(vectors[i] @ query))[:50]
    assert paths.column("path").to_pylist() == [f"p{i}" for i in exact]
    wide = table.search(query).metric("cosine").where("width = 0", prefilter=True).limit(50)
    assert "ANN" in ann.tune_query(wide, 5_000, filtered=True, matching=5_000).explain_plan()
