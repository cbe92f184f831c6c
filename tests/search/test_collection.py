"""Collections: index a folder, re-index only what changed, search, filter, refuse bad input."""

from __future__ import annotations

import builtins
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polymodal.errors import BadInputError, BusyError
from polymodal.render import from_data, to_data
from polymodal.search import Collection, IndexReport, SearchResult, ingest


def test_an_indexed_image_finds_itself_first(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    report = collection.add(photo_dir)
    assert (report.added, report.updated, report.moved, report.removed) == (6, 0, 0, 0)
    assert report.embedded == 6 == counting_encoder.images and report.total == 6
    result = collection.search(image=photo_dir / "rocket.png", k=3)
    assert result.hits[0].path == str((photo_dir / "rocket.png").resolve())
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert result.hits[0].confidence > 0.5
    assert (result.hits[0].width, result.hits[0].height) == (
        Image.open(photo_dir / "rocket.png").size
    )


def test_stored_facts_include_exif_time_and_camera(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    result = collection.search(image=photo_dir / "astronaut.jpg", k=1)
    hit = result.hits[0]
    assert hit.camera == "Canon EOS 5D" and hit.date == datetime(2021, 6, 1, 12, 0)
    red = collection.search(image=photo_dir / "red.png", k=1).hits[0]
    assert red.camera is None  # no EXIF: the file's time stands in for the date
    assert red.date == datetime.fromtimestamp(os.stat(photo_dir / "red.png").st_mtime)


def test_reindexing_an_unchanged_folder_reads_no_file(
    photo_dir, counting_encoder, tmp_path, monkeypatch
):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    probed: list[str] = []
    real_probe = ingest.probe
    monkeypatch.setattr(ingest, "probe", lambda p, s: probed.append(str(p)) or real_probe(p, s))
    opened: list[str] = []
    real_open = builtins.open

    def watched_open(file, *args, **kwargs):
        if str(photo_dir) in str(file):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", watched_open)
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: watched_open(self, *a, **k))
    before = counting_encoder.images
    report = collection.add(photo_dir)
    assert report.unchanged == 6 and report.embedded == 0 and report.total == 6
    assert probed == [] and opened == [] and counting_encoder.images == before


def test_changed_moved_touched_and_deleted_files(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    old_vector = _vector_of(collection, photo_dir / "trip" / "coffee.jpg")
    Image.new("RGB", (50, 40), "green").save(photo_dir / "red.png")  # new content
    (photo_dir / "trip" / "coffee.jpg").rename(photo_dir / "coffee-renamed.jpg")
    (photo_dir / "trip" / "blue.png").unlink()
    stat = os.stat(photo_dir / "rocket.png")
    os.utime(photo_dir / "rocket.png", (stat.st_atime, stat.st_mtime + 100))  # touched only
    before = counting_encoder.images
    report = collection.add(photo_dir)
    assert (report.added, report.updated, report.moved, report.removed) == (0, 1, 1, 1)
    assert report.unchanged == 3  # astronaut, chelsea and the touched rocket
    assert report.embedded == 1 and counting_encoder.images - before == 1
    assert report.total == 5
    paths = stored_paths(collection)
    assert str((photo_dir / "coffee-renamed.jpg").resolve()) in paths
    assert not any("blue.png" in p or "trip/coffee" in p for p in paths)
    np.testing.assert_array_equal(
        _vector_of(collection, photo_dir / "coffee-renamed.jpg"), old_vector
    )
    again = collection.add(photo_dir)
    assert again.unchanged == 5 and again.embedded == 0


def test_a_copy_reuses_the_stored_vector(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    shutil.copy(photo_dir / "rocket.png", photo_dir / "rocket-copy.png")
    before = counting_encoder.images
    report = collection.add(photo_dir)
    assert report.added == 1 and report.embedded == 0 and counting_encoder.images == before
    assert report.total == 7


def test_bad_files_are_skipped_and_counted(photo_dir, counting_encoder, tmp_path):
    (photo_dir / "notes.jpg").write_text("not a picture")
    (photo_dir / "half.jpg").write_bytes((photo_dir / "astronaut.jpg").read_bytes()[:3000])
    (photo_dir / "empty.png").write_bytes(b"")
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    report = collection.add(photo_dir)
    assert report.total == 6 and report.added == 6
    skipped = {os.path.basename(s.path): s.reason for s in report.skipped}
    assert set(skipped) == {"notes.jpg", "half.jpg", "empty.png"}
    assert "truncated" in skipped["half.jpg"] and "empty" in skipped["empty.png"]


def test_filters_dates_and_camera(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    query = photo_dir / "red.png"

    def names(**options) -> set[str]:
        hits = collection.search(image=query, min_score=-1, k=10, **options).hits
        return {os.path.basename(h.path) for h in hits}

    assert names(where="width > 1000") == {"red.png"}
    assert names(after="2024-01-01", before="2024-12-31") == {"coffee.jpg"}
    assert names(before="2022-01-01") == {"astronaut.jpg"}
    assert names(camera="nikon") == {"coffee.jpg"}
    assert names(camera="canon", where="height < 100") == set()
    result = collection.search(image=query, k=10, where="width > 5000", min_score=-1)
    assert result.hits == () and "passes the filter" in result.message


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("widht > 3", "unknown column 'widht'"),
        ("width >", "is not valid"),
        ("width > 'wide'", "is not valid"),
    ],
)
def test_a_bad_filter_is_one_sentence(photo_dir, counting_encoder, tmp_path, where, words):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    with pytest.raises(BadInputError) as error:
        collection.search(image=photo_dir / "red.png", where=where)
    assert words in str(error.value) and error.value.param == "where"
    assert ".rs:" not in str(error.value)
    assert collection.stats().images == 6  # nothing stored was touched


def test_bad_input_gets_a_sentence_and_loses_nothing(photo_dir, counting_encoder, tmp_path):
    db = tmp_path / "db"
    collection = Collection("photos", db=db, model=counting_encoder)
    collection.add(photo_dir)
    for name in ["../x", "/etc", "a b", ""]:
        with pytest.raises(BadInputError, match="not a collection name"):
            Collection(name, db=db)
    with pytest.raises(BadInputError, match=r"no collection 'holiday'.*collections there: photos"):
        Collection("holiday", db=db).search("a beach")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="contains no image files"):
        collection.add(empty)
    with pytest.raises(BadInputError, match="no such file or folder"):
        collection.add(tmp_path / "missing")
    (tmp_path / "query.jpg").write_text("not an image")
    with pytest.raises(BadInputError, match="query image cannot be used") as error:
        collection.search(image=tmp_path / "query.jpg")
    assert error.value.param == "image"
    with pytest.raises(BadInputError, match="exactly one"):
        collection.search("words", image=photo_dir / "red.png")
    assert collection.stats().images == 6


def test_a_collection_never_mixes_models(photo_dir, tiny_clip_dir, other_clip_dir, tmp_path):
    db = tmp_path / "db"
    Collection("photos", db=db, model=str(tiny_clip_dir)).add(photo_dir)
    with pytest.raises(BadInputError, match="never mixes models") as error:
        Collection("photos", db=db, model=str(other_clip_dir)).add(photo_dir)
    assert str(tiny_clip_dir) in str(error.value) and str(other_clip_dir) in str(error.value)
    # opened without a model, the collection loads the one it was built with
    stats = Collection("photos", db=db).stats()
    assert stats.model == str(tiny_clip_dir.resolve()) and stats.images == 6
    assert Collection("photos", db=db).search(image=photo_dir / "red.png").hits


def test_a_second_writer_is_refused_and_readers_are_not(photo_dir, counting_encoder, tmp_path):
    db = tmp_path / "db"
    collection = Collection("photos", db=db, model=counting_encoder)
    collection.add(photo_dir)
    holder = subprocess.Popen(  # another process holding the collection's writer lock
        [sys.executable, "-c", _HOLD_LOCK, str(db.resolve())], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(BusyError, match="being written by process"):
            collection.add(photo_dir)
        assert collection.search(image=photo_dir / "red.png").hits  # reading is not blocked
    finally:
        holder.kill()
        holder.wait()
    assert collection.add(photo_dir).unchanged == 6  # the lock went with its process


_HOLD_LOCK = """
import sys, time
from polymodal.search.lock import writer_lock
with writer_lock(sys.argv[1], "photos"):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_remove_and_stats(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    assert collection.remove([photo_dir / "trip"]) == 3
    stats = collection.stats()
    assert stats.images == 3 and stats.dim == counting_encoder.dim and not stats.indexed


def test_results_round_trip_through_the_serialiser(photo_dir, counting_encoder, tmp_path):
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    report = collection.add(photo_dir)
    assert from_data(IndexReport, to_data(report)) == report
    result = collection.search(image=photo_dir / "red.png")
    assert from_data(SearchResult, to_data(result)) == result


def _vector_of(collection: Collection, path) -> np.ndarray:
    table = collection._table()
    return ingest.vectors_of(table, [str(path.resolve())])[str(path.resolve())]


def stored_paths(collection: Collection) -> list[str]:
    return sorted(ingest.stored_rows(collection._table()))


def test_a_search_sees_each_new_batch_and_works_in_a_forked_child(
    photo_dir, counting_encoder, tmp_path
):
    """Queries run on a loop thread of their own (``search.query``): a search right after an
    add sees the new rows, and a forked worker (threads don't survive a fork) still searches."""
    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add([photo_dir / "red.png"])
    assert collection.search(image=photo_dir / "red.png", k=5, min_score=0).considered == 1
    collection.add(photo_dir)
    expected = collection.search(image=photo_dir / "rocket.png", k=3)
    assert expected.considered == 6
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        signal.alarm(60)  # a query loop lost in the fork would hang: fail instead
        hits = collection.search(image=photo_dir / "rocket.png", k=3).hits
        os.write(write, "\n".join(h.path for h in hits).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        assert pipe.read().split("\n") == [h.path for h in expected.hits]
    assert status == 0


def test_a_collection_dropped_and_made_again_is_searched_anew(
    photo_dir, counting_encoder, tmp_path
):
    import lancedb

    collection = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    collection.add(photo_dir)
    assert collection.search(image=photo_dir / "red.png", k=10, min_score=0).considered == 6
    lancedb.connect(str(tmp_path / "db")).drop_table("photos")
    again = Collection("photos", db=tmp_path / "db", model=counting_encoder)
    again.add([photo_dir / "red.png", photo_dir / "rocket.png"])
    result = again.search(image=photo_dir / "red.png", k=10, min_score=0)
    assert result.considered == 2
    assert result.hits[0].path == str((photo_dir / "red.png").resolve())
