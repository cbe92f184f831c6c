"""Indexing on Ray gives exactly the collection the local path gives."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.search import Collection, ingest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, object_store_memory=2**29, include_dashboard=False)
    yield ray
    ray.shutdown()


def _rows(collection: Collection) -> dict[str, dict]:
    table = collection._table()
    data = table.search().limit(None).to_arrow().to_pylist()
    return {row.pop("path"): row for row in data}


@pytest.mark.slow
def test_the_ray_path_builds_the_local_collection(local_ray, photo_dir, tiny_clip_dir, tmp_path):
    (photo_dir / "notes.jpg").write_text("not a picture")
    local = Collection("photos", db=tmp_path / "local", model=str(tiny_clip_dir))
    on_ray = Collection("photos", db=tmp_path / "ray", model=str(tiny_clip_dir))
    mine = local.add(photo_dir)
    theirs = on_ray.add(photo_dir, ray=True, batch_size=2)
    assert (theirs.added, theirs.total, theirs.embedded) == (mine.added, mine.total, 6)
    assert [s.path for s in theirs.skipped] == [s.path for s in mine.skipped]
    assert [s.reason for s in theirs.skipped] == [s.reason for s in mine.skipped]
    ours, cluster = _rows(local), _rows(on_ray)
    assert sorted(ours) == sorted(cluster)
    for path, row in ours.items():
        other = cluster[path]
        # batch composition changes float rounding in the model's matrix products only
        np.testing.assert_allclose(row.pop("vector"), other.pop("vector"), atol=1e-5)
        assert row == other
    (photo_dir / "rocket.png").rename(photo_dir / "rocket-moved.png")
    again = on_ray.add(photo_dir, ray=True)
    assert (again.moved, again.embedded, again.total) == (1, 0, 6)
    assert str((photo_dir / "rocket-moved.png").resolve()) in ingest.stored_rows(on_ray._table())
