"""Crash safety (a collection killed mid-ingest opens and the re-run completes it) and the
layout version (a newer index refused, an older one migrated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pytest
from _search_helpers import drawing

from polymodal.errors import BadInputError
from polymodal.search import Collection, ingest, schema

_SLOW_INGEST = textwrap.dedent(
    """
    import sys, time
    from polymodal.search import Collection, ingest
    from polymodal.vision import get_encoder

    ingest.COMMIT_ROWS = 4

    class Slow:
        def __init__(self, inner):
            self.inner = inner
        def __getattr__(self, name):
            return getattr(self.inner, name)
        def encode_pixels(self, pixels):
            time.sleep(0.4)
            return self.inner.encode_pixels(pixels)
        encode_pixels_one_core = encode_pixels

    encoder = Slow(get_encoder(sys.argv[2]))
    Collection("photos", db=sys.argv[1], model=encoder).add(sys.argv[3], batch_size=2)
    """
)


@pytest.fixture
def many_drawings(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    colours = ["red", "blue", "green", "orange", "purple", "black", "yellow", "grey"]
    for index in range(40):
        shape = "ellipse" if index % 2 else "rectangle"
        drawing(folder / f"d{index:02}.png", colours[index % 8], shape, (100 + index, 90))
    return folder


@pytest.mark.slow
def test_a_kill_mid_ingest_leaves_a_collection_the_rerun_completes(
    many_drawings, tiny_clip_dir, tmp_path
):
    db = tmp_path / "db"
    script = tmp_path / "slow_ingest.py"
    script.write_text(_SLOW_INGEST)
    process = subprocess.Popen(
        [sys.executable, str(script), str(db), str(tiny_clip_dir), str(many_drawings)]
    )
    try:
        committed = _wait_for_rows(Collection("photos", db=db), process, timeout=120)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    collection = Collection("photos", db=db, model=str(tiny_clip_dir))
    partial = collection.stats().images
    assert committed <= partial < 40  # opens, holds what was committed, and is not complete
    report = collection.add(many_drawings)  # the lock died with the process
    assert report.total == 40 and report.unchanged == partial and report.embedded == 40 - partial
    paths = list(ingest.stored_rows(collection._table()))
    assert len(paths) == len(set(paths)) == 40


def _wait_for_rows(collection: Collection, process, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the ingest finished before it could be killed"
        if collection.exists():
            rows = collection.stats().images
            if rows >= 4:
                return rows
        time.sleep(0.05)
    raise AssertionError("no batch was committed in time")


def _rewrite_version(collection: Collection, version: int) -> None:
    table = collection._table()
    header = schema.read_header(table.schema, collection.name)
    old = schema.Header(header.model, header.model_id, header.dim, version)
    table.update_field_metadata(schema.header_updates(old))


def test_a_newer_index_is_refused_untouched(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    _rewrite_version(collection, schema.SCHEMA_VERSION + 1)
    with pytest.raises(BadInputError, match="written by a newer polymodal") as error:
        collection.search(image=photo_dir / "red.png")
    assert error.value.param == "collection"
    with pytest.raises(BadInputError, match="newer polymodal"):
        collection.add(photo_dir)


def test_an_older_index_is_migrated_on_open(photo_dir, counting_encoder, tmp_path, monkeypatch):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    _rewrite_version(collection, schema.SCHEMA_VERSION - 1)
    ran: list[int] = []

    def migrate(table) -> None:
        ran.append(table.count_rows())
        table.add_columns(pa.field("note", pa.string()))

    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION - 1, migrate)
    assert collection.stats().schema_version == schema.SCHEMA_VERSION
    assert ran == [6] and "note" in collection._table().schema.names
    assert collection.search(image=photo_dir / "red.png").hits  # still searchable
    collection.stats()
    assert ran == [6]  # migrated once


def test_an_ingest_migrates_an_older_index_under_its_own_lock(
    photo_dir, counting_encoder, tmp_path, monkeypatch
):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    _rewrite_version(collection, schema.SCHEMA_VERSION - 1)
    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION - 1, lambda table: None)
    report = collection.add(photo_dir)  # holds the writer lock while the open migrates
    assert report.unchanged == 6 and collection.stats().schema_version == schema.SCHEMA_VERSION
