"""The embedding cache: each image content is embedded once per model, whatever its path."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest
from typer.testing import CliRunner

from polymodal.errors import PolymodalError
from polymodal.vision import cache_stats, clear_cache, embed_images, embed_texts
from polymodal.vision.cache import EmbeddingCache


@pytest.fixture
def counted(tiny_encoder, monkeypatch):
    """The tiny encoder with its image and text calls counted (per item, on every path)."""
    calls = {"images": 0, "texts": 0}
    encode_texts = tiny_encoder.encode_texts
    lock = threading.Lock()  # model lanes call from several threads

    def counting(encode):
        def count_pixels(pixels):
            with lock:
                calls["images"] += len(pixels)
            return encode(pixels)

        return count_pixels

    def count_texts(texts):
        calls["texts"] += len(texts)
        return encode_texts(texts)

    for name in ("encode_pixels", "encode_pixels_one_core"):
        monkeypatch.setattr(tiny_encoder, name, counting(getattr(tiny_encoder, name)))
    monkeypatch.setattr(tiny_encoder, "encode_texts", count_texts)
    return tiny_encoder, calls


def test_second_run_computes_nothing(counted, photos, tiny_clip_dir):
    encoder, calls = counted
    paths = list(photos.values())
    first = embed_images(paths, model=str(tiny_clip_dir))
    assert (first.computed, first.cached, calls["images"]) == (len(paths), 0, len(paths))
    second = embed_images(paths, model=str(tiny_clip_dir))
    assert (second.computed, second.cached, calls["images"]) == (0, len(paths), len(paths))
    assert np.array_equal(first.vectors, second.vectors)
    assert second.model_id == encoder.model_id


def test_cache_key_is_content_not_path(counted, photos, tiny_clip_dir, tmp_path):
    _, calls = counted
    embed_images([photos["astronaut"]], model=str(tiny_clip_dir))
    renamed = tmp_path / "moved" / "holiday.jpg"
    renamed.parent.mkdir()
    renamed.write_bytes(photos["astronaut"].read_bytes())
    result = embed_images([renamed], model=str(tiny_clip_dir))
    assert (result.cached, result.computed, calls["images"]) == (1, 0, 1)
    edited = tmp_path / "edited.jpg"
    edited.write_bytes(photos["astronaut"].read_bytes() + b"\0")  # same name elsewhere, new bytes
    assert embed_images([edited], model=str(tiny_clip_dir)).computed == 1


def test_same_bytes_twice_in_one_call_are_embedded_once(counted, photos, tiny_clip_dir, tmp_path):
    _, calls = counted
    twin = tmp_path / "twin.png"
    twin.write_bytes(photos["coffee"].read_bytes())
    result = embed_images([photos["coffee"], twin], model=str(tiny_clip_dir))
    assert calls["images"] == 1 and len(result.paths) == 2
    assert np.array_equal(result.vectors[0], result.vectors[1])


def test_no_cache_neither_reads_nor_writes(counted, photos, tiny_clip_dir):
    _, calls = counted
    paths = list(photos.values())
    embed_images(paths, model=str(tiny_clip_dir), cache=False)
    embed_images(paths, model=str(tiny_clip_dir), cache=False)
    assert calls["images"] == 2 * len(paths)
    assert cache_stats().images == 0


def test_texts_are_cached_by_model_and_text(counted, tiny_clip_dir):
    _, calls = counted
    first = embed_texts(["a cat", "a dog", "a cat"], model=str(tiny_clip_dir))
    assert calls["texts"] == 2 and np.array_equal(first[0], first[2])
    second = embed_texts(["a dog", "a cat"], model=str(tiny_clip_dir))
    assert calls["texts"] == 2 and np.array_equal(second[1], first[0])


def test_stats_and_clear(counted, photos, tiny_clip_dir):
    encoder, _ = counted
    embed_images(list(photos.values()), model=str(tiny_clip_dir))
    embed_texts(["a cat"], model=str(tiny_clip_dir))
    stats = cache_stats()
    assert (stats.images, stats.texts, stats.size_bytes > 0) == (len(photos), 1, True)
    assert [m.model_id for m in stats.models] == [encoder.model_id]
    assert clear_cache("some-other-model") == 0
    assert clear_cache() == len(photos) + 1
    assert cache_stats().images == 0


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite3"
    caches = [EmbeddingCache(path), EmbeddingCache(path)]  # two handles, like two processes

    def write(cache, offset):
        for i in range(20):
            cache.put_images("m", [(f"h{offset + i}", np.full(4, i, dtype=np.float32))])

    threads = [threading.Thread(target=write, args=(c, 100 * n)) for n, c in enumerate(caches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = EmbeddingCache(path).get_images("m", [f"h{i}" for i in (*range(20), *range(100, 120))])
    assert len(found) == 40 and found["h105"].tolist() == [5.0] * 4


def test_a_cache_held_by_another_writer_past_the_wait_is_busy_not_a_crash(tmp_path, monkeypatch):
    from polymodal.errors import BusyError
    from polymodal.vision import cache as cache_module

    path = tmp_path / "held.sqlite3"
    EmbeddingCache(path).put_images("m", [("h0", np.zeros(4, dtype=np.float32))])
    monkeypatch.setattr(cache_module, "_BUSY_TIMEOUT_S", 0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process mid-transaction
    try:
        with pytest.raises(BusyError, match="held by another process"):
            EmbeddingCache(path).put_images("m", [("h1", np.ones(4, dtype=np.float32))])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert set(EmbeddingCache(path).get_images("m", ["h0", "h1"])) == {"h0"}


def test_a_newer_cache_schema_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(PolymodalError, match="newer polymodal"):
        EmbeddingCache(path).stats()


def test_cache_cli_stats_and_clear(counted, photos, tiny_clip_dir):
    from polymodal.cli import _register, app

    _register()
    embed_images([photos["rocket"]], model=str(tiny_clip_dir))
    runner = CliRunner()
    shown = runner.invoke(app, ["cache", "stats", "--json"])
    assert shown.exit_code == 0 and '"images": 1' in shown.stdout
    cleared = runner.invoke(app, ["cache", "clear", "--json"])
    assert cleared.exit_code == 0 and '"removed": 1' in cleared.stdout


def test_classifying_cached_images_loads_no_weights(
    tiny_clip_dir, polymodal_home, photos, monkeypatch
):
    """A second run over the same photos, in a fresh process (nothing loaded yet), answers
    from the cache: it opens no ONNX session and never loads the PyTorch model."""
    from polymodal import catalog
    from polymodal.vision import classify
    from polymodal.vision.backends import onnx as onnx_backend
    from polymodal.vision.backends.torch import TorchClip

    images = [str(photos["astronaut"]), str(photos["coffee"])]
    first = classify(images, ["a person", "a cup"], model=str(tiny_clip_dir))
    catalog.unload()  # as if in a new process

    def refuse(*args, **kwargs):
        raise AssertionError("model weights were loaded for cached images")

    monkeypatch.setattr(onnx_backend, "session", refuse)
    monkeypatch.setattr(TorchClip, "model", property(refuse))
    second = classify(images, ["a person", "a cup"], model=str(tiny_clip_dir))
    assert [i.predicted for i in second.items] == [i.predicted for i in first.items]
    assert second.logit_scale == pytest.approx(first.logit_scale)
