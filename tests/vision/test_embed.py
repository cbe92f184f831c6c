"""embed_images / embed_texts and ``polymodal embed``: bad files are skipped and reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from polymodal.errors import BadInputError
from polymodal.media.image import load_image
from polymodal.vision import embed_images, embed_texts, get_encoder


@pytest.fixture(scope="module")
def cli():
    from polymodal.cli import _register, app

    _register()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_bad_files_are_reported_and_the_rest_completes(tiny_encoder, photos, bad_files):
    good = [photos["astronaut"], photos["coffee"]]
    mixed = [good[0], *bad_files.values(), good[1]]
    result = embed_images(mixed, model=str(tiny_encoder_dir(tiny_encoder)))
    assert result.paths == tuple(str(p) for p in good)
    assert result.vectors.shape == (2, tiny_encoder.dim)
    reasons = {f.path: f.reason for f in result.failures}
    assert list(reasons) == [str(p) for p in bad_files.values()]  # input order
    expected = {
        "corrupt": "corrupt",
        "truncated": "truncated",
        "not_image": "not an image",
        "empty": "empty",
        "bomb": "decompression bomb",
        "missing": "does not exist",
    }
    for kind, words in expected.items():
        reason = reasons[str(bad_files[kind])]
        assert words in reason and str(bad_files[kind]) in reason


def tiny_encoder_dir(encoder) -> str:
    return encoder.model_id.removeprefix("local:").rsplit("@", 1)[0]


def test_vectors_follow_input_order_and_match_the_encoder(tiny_encoder, photos):
    paths = [photos["coffee"], photos["rocket"]]  # PNGs: decoded at full size either way
    result = embed_images(paths, model=tiny_encoder_dir(tiny_encoder), batch_size=1)
    direct = tiny_encoder.encode_images([load_image(p) for p in paths])
    assert np.abs(result.vectors - direct).max() < 1e-5
    reverse = embed_images(paths[::-1], model=tiny_encoder_dir(tiny_encoder), cache=False)
    assert np.abs(reverse.vectors[::-1] - result.vectors).max() < 1e-5


def test_batches_run_in_parallel_lanes_keep_input_order(tiny_encoder, photos):
    """Several batches in flight at once (one per core) still land on their own paths."""
    paths = list(photos.values()) * 3
    result = embed_images(paths, model=tiny_encoder_dir(tiny_encoder), batch_size=2, cache=False)
    assert result.computed == len(paths)
    images = [load_image(p, min_side=tiny_encoder.min_side) for p in paths]  # as embed decodes
    direct = tiny_encoder.encode_images(images)
    assert np.abs(result.vectors - direct).max() < 1e-5


def test_one_core_path_equals_the_all_core_path(tiny_encoder, photos):
    pixels = tiny_encoder.preprocess([load_image(p) for p in photos.values()])
    one_core = tiny_encoder.encode_pixels_one_core(pixels)
    assert np.abs(one_core - tiny_encoder.encode_pixels(pixels)).max() < 1e-5


def test_draft_decoding_keeps_embeddings_of_large_jpegs(tiny_encoder, big_jpeg):
    result = embed_images([big_jpeg], model=tiny_encoder_dir(tiny_encoder), cache=False)
    full = tiny_encoder.encode_images([load_image(big_jpeg)])
    assert float(result.vectors[0] @ full[0]) > 0.99


def test_progress_reaches_the_total(tiny_encoder, photos, bad_files):
    seen = []
    paths = [*photos.values(), bad_files["corrupt"]]
    embed_images(paths, model=tiny_encoder_dir(tiny_encoder), progress=seen.append)
    assert {(r.stage, r.unit) for r in seen} == {("embed", "images")}
    assert (seen[-1].done, seen[-1].total) == (len(paths), len(paths))
    assert [r.done for r in seen] == sorted(r.done for r in seen)


def test_int8_setting_selects_the_int8_model(tiny_encoder, photos, monkeypatch):
    monkeypatch.setenv("POLYMODAL_INT8", "1")
    result = embed_images([photos["rocket"]], model=tiny_encoder_dir(tiny_encoder))
    assert result.model_id == tiny_encoder.model_id + "+int8"
    assert get_encoder(tiny_encoder_dir(tiny_encoder), int8=False) is tiny_encoder


def test_embed_texts_shapes_and_errors(tiny_encoder):
    vectors = embed_texts(["a cat", "a dog"], model=tiny_encoder_dir(tiny_encoder))
    assert vectors.shape == (2, tiny_encoder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert embed_texts([], model=tiny_encoder_dir(tiny_encoder)).shape == (0, tiny_encoder.dim)
    with pytest.raises(BadInputError):
        embed_texts("a cat", model=tiny_encoder_dir(tiny_encoder))
    with pytest.raises(BadInputError):
        embed_images([], batch_size=0, model=tiny_encoder_dir(tiny_encoder))


def test_cli_writes_npy_with_a_sidecar(cli, tiny_encoder, photos, bad_files, tmp_path):
    folder = photos["astronaut"].parent
    out = tmp_path / "vectors.npy"
    model = tiny_encoder_dir(tiny_encoder)
    result = cli("embed", folder, bad_files["corrupt"], "--out", out, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["count"] == len(photos) and len(summary["failures"]) == 1
    vectors = np.load(out)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert vectors.shape == (len(photos), tiny_encoder.dim)
    assert sorted(sidecar["paths"]) == sorted(str(p) for p in photos.values())
    assert sidecar["model_id"] == tiny_encoder.model_id


def test_cli_writes_parquet_and_texts(cli, tiny_encoder, photos, tmp_path):
    import pyarrow.parquet as pq

    model = tiny_encoder_dir(tiny_encoder)
    out = tmp_path / "vectors.parquet"
    assert (
        cli("embed", photos["coffee"], "--out", out, "--model", model, "--no-cache").exit_code == 0
    )
    table = pq.read_table(out)
    assert table.column_names == ["path", "embedding"] and table.num_rows == 1
    row = np.asarray(table.column("embedding")[0].as_py(), dtype=np.float32)
    assert np.allclose(row, embed_images([photos["coffee"]], model=model).vectors[0], atol=1e-5)
    texts_out = tmp_path / "texts.npy"
    assert (
        cli("embed", "--texts", "a cat, a dog", "--out", texts_out, "--model", model).exit_code == 0
    )
    assert np.load(texts_out).shape == (2, tiny_encoder.dim)
    assert json.loads(texts_out.with_suffix(".json").read_text())["texts"] == ["a cat", "a dog"]


def test_cli_bad_usage_exits_with_code_2(cli, tiny_encoder, photos, tmp_path):
    model = tiny_encoder_dir(tiny_encoder)
    both = cli(
        "embed", photos["coffee"], "--texts", "a", "--out", tmp_path / "x.npy", "--model", model
    )
    assert both.exit_code == 2 and "not both" in _flat(both.output)
    wrong = cli("embed", photos["coffee"], "--out", tmp_path / "x.csv", "--model", model)
    assert wrong.exit_code == 2 and ".npy or .parquet" in _flat(wrong.output)
    missing = cli("embed", tmp_path / "nope", "--out", tmp_path / "x.npy", "--model", model)
    assert missing.exit_code == 2 and "no such file or folder" in _flat(missing.output)


def _flat(text: str) -> str:
    """Rich wraps long lines on narrow terminals; compare words, not layout."""
    return " ".join(text.split())


def test_batches_stream_as_they_finish_and_collect_to_the_same_result(
    tiny_encoder, photos, bad_files
):
    from polymodal.vision import iter_image_batches

    paths = [*photos.values(), bad_files["corrupt"]]
    batches = list(iter_image_batches(paths, model=tiny_encoder, batch_size=2, cache=False))
    assert len(batches) >= 2 and all(b.model_id == tiny_encoder.model_id for b in batches)
    assert all(len(b) <= 2 for b in batches)
    positions = sorted(p for b in batches for p in b.positions)
    assert positions == list(range(len(photos)))
    assert [f.path for b in batches for f in b.failures] == [str(bad_files["corrupt"])]
    whole = embed_images(paths, model=tiny_encoder, cache=False)
    streamed = {p: v for b in batches for p, v in zip(b.paths, b.vectors, strict=True)}
    for path, vector in zip(whole.paths, whole.vectors, strict=True):
        assert np.allclose(streamed[path], vector, atol=1e-6)
    assert sum(b.computed for b in batches) == whole.computed == len(photos)


def test_cached_images_arrive_first_and_a_cancel_keeps_finished_batches(tiny_encoder, photos):
    from polymodal.errors import CancelledError
    from polymodal.progress import CancelToken
    from polymodal.vision import iter_image_batches

    paths = list(photos.values())
    token = CancelToken()
    stream = iter_image_batches(paths, model=tiny_encoder, batch_size=1, cancel=token)
    first = next(stream)
    token.cancel("interrupted")
    with pytest.raises(CancelledError):
        list(stream)
    again = list(iter_image_batches(paths, model=tiny_encoder, batch_size=1))
    assert again[0].cached >= len(first) and set(first.paths) <= set(again[0].paths)
    assert sum(b.cached for b in again) + sum(b.computed for b in again) == len(paths)


def test_a_loaded_encoder_object_is_used_as_given(tiny_encoder, photos):
    result = embed_images([photos["rocket"]], model=tiny_encoder, cache=False)
    assert result.model_id == tiny_encoder.model_id and result.computed == 1
    assert get_encoder(tiny_encoder) is tiny_encoder
