"""Duplicate finding on scikit-image's photos: copies group, distinct photos stay apart."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import imagehash
import numpy as np
import pytest
from _vision_helpers import FakeClip, unit
from PIL import Image

from polymodal.errors import BadInputError
from polymodal.vision import phash
from polymodal.vision.dedup import find_duplicates
from polymodal.vision.dedup_report import remove_duplicates

T = Image.Transpose
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "horse", "clock")


def _load(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * fraction), int(h * fraction)
    return image.crop((dx, dy, w - dx, h - dy))


def _half(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)


#: Each edit a photo tool would miss or catch, applied to some of the photos.
EDITS = {
    "resized": _half,
    "recompressed": lambda i: _jpeg(i, 35),
    "cropped": lambda i: _crop(i, 0.05),
    "rot90": lambda i: i.transpose(T.ROTATE_90),
    "rot180": lambda i: i.transpose(T.ROTATE_180),
    "rot270": lambda i: i.transpose(T.ROTATE_270),
    "mirrored": lambda i: i.transpose(T.FLIP_LEFT_RIGHT),
    "everything": lambda i: _jpeg(_crop(_half(i.transpose(T.TRANSPOSE)), 0.04), 50),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict[str, set[str]]]:
    """Originals (PNG) and edited copies (JPEG) in nested folders; expected groups by photo."""
    root = tmp_path_factory.mktemp("library")
    (root / "edits").mkdir()
    expected: dict[str, set[str]] = {}
    for index, name in enumerate(PHOTOS):
        original = _load(name)
        path = root / f"{name}.png"
        original.save(path)
        members = {str(path)}
        chosen = list(EDITS.items())[index % 4 :: 2] if index < 6 else []
        for edit, transform in chosen:
            copy = root / "edits" / f"{name}-{edit}.jpg"
            transform(original).save(copy, quality=90)
            members.add(str(copy))
        if index == 0:
            exact = root / "edits" / f"{name}-copy.png"
            shutil.copyfile(path, exact)
            members.add(str(exact))
        expected[name] = members
    return root, expected


@pytest.fixture(scope="module")
def library_report(library):
    return find_duplicates(library[0], semantic=False)


def _groups(report) -> list[set[str]]:
    return [{f.path for f in group.files} for group in report.groups]


def test_every_edited_copy_groups_with_its_original(library, library_report):
    _, expected = library
    report = library_report
    groups = _groups(report)
    for name, members in expected.items():
        if len(members) > 1:
            assert members in groups, f"{name}: {members} not grouped; got {groups}"
    assert len(groups) == sum(len(m) > 1 for m in expected.values())
    assert report.scanned == sum(len(m) for m in expected.values())
    assert report.failures == () and report.model_id is None
    edits = {Path(p).stem.split("-")[1] for g in groups for p in g if "-" in Path(p).stem}
    assert set(EDITS) | {"copy"} <= edits  # every kind of edit was exercised


def test_distinct_photos_stay_apart(library):
    root, _ = library
    originals = [root / f"{name}.png" for name in PHOTOS]
    report = find_duplicates(originals, semantic=False)
    assert report.groups == ()


def test_keeper_is_the_largest_and_matches_say_how(library, library_report):
    _, expected = library
    report = library_report
    astronaut = next(g for g in report.groups if g.keeper.endswith("astronaut.png"))
    matches = {Path(f.path).name: f.match for f in astronaut.files}
    assert matches["astronaut.png"] == "keeper"
    assert matches["astronaut-copy.png"] == "exact"
    assert {m for n, m in matches.items() if n.endswith(".jpg")} == {"near-exact"}
    assert astronaut.kind == "near-exact"
    assert astronaut.files[0].path == astronaut.keeper
    assert all(f.hash_distance <= phash.DEFAULT_HASH_DISTANCE for f in astronaut.files)
    assert set(astronaut.others) == expected["astronaut"] - {astronaut.keeper}


def test_exact_only_group_and_larger_copy_becomes_keeper(tmp_path):
    image = _load("rocket")
    image.save(tmp_path / "a.png")
    shutil.copyfile(tmp_path / "a.png", tmp_path / "b.png")
    image.resize((image.width * 3 // 2, image.height * 3 // 2)).save(tmp_path / "big.jpg")
    _load("coffee").save(tmp_path / "c.png")
    shutil.copyfile(tmp_path / "c.png", tmp_path / "d.png")
    report = find_duplicates(tmp_path, semantic=False)
    kinds = {g.keeper: g.kind for g in report.groups}
    assert kinds == {str(tmp_path / "big.jpg"): "near-exact", str(tmp_path / "c.png"): "exact"}


def test_fingerprints_ignore_orientation(library):
    image = _load("chelsea")
    base = phash.fingerprint(image)
    for transform in T:
        other = phash.fingerprint(image.transpose(transform))
        assert phash.distance_matrix([base, other])[0, 1] <= 3, transform


def test_hash_bits_equal_imagehash():
    image = _load("coffee")
    image.thumbnail((128, 128))
    bits = phash.hash_bits([image])[0]
    reference = np.concatenate(
        [imagehash.phash(image).hash.flatten(), imagehash.dhash(image).hash.flatten()]
    )
    np.testing.assert_array_equal(bits, reference)


def test_bad_files_are_reported_and_the_rest_completes(tmp_path):
    _load("coins").save(tmp_path / "coins.png")
    shutil.copyfile(tmp_path / "coins.png", tmp_path / "coins-2.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not a picture")
    good = (tmp_path / "coins.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 3])
    report = find_duplicates(tmp_path, semantic=False)
    assert _groups(report) == [{str(tmp_path / "coins.png"), str(tmp_path / "coins-2.png")}]
    failed = sorted(Path(f.path).name for f in report.failures)
    assert failed == ["cut.png", "empty.jpg", "notes.png"]
    assert all(f.reason for f in report.failures)


def test_semantic_near_duplicates_from_controlled_vectors(tmp_path, monkeypatch):
    for name in ("astronaut", "coffee", "rocket"):
        _load(name).save(tmp_path / f"{name}.png")
    vectors = {"astronaut": unit(1, 0, 0), "coffee": unit(1, 0.25, 0), "rocket": unit(0, 0, 1)}
    FakeClip(images=vectors).install(monkeypatch)
    cosine = float(vectors["astronaut"] @ vectors["coffee"])
    report = find_duplicates(tmp_path, semantic_threshold=cosine - 0.01)
    assert _groups(report) == [{str(tmp_path / "astronaut.png"), str(tmp_path / "coffee.png")}]
    group = report.groups[0]
    assert group.kind == "semantic" and report.model_id == "fake-clip"
    assert {f.match for f in group.files} == {"keeper", "semantic"}
    assert group.files[1].similarity == pytest.approx(cosine, abs=1e-3)
    assert find_duplicates(tmp_path, semantic_threshold=cosine + 0.01).groups == ()


def test_reports_write_json_and_csv(library_report, tmp_path):
    report = library_report
    data = json.loads(report.write(tmp_path / "out" / "dups.json").read_text())
    assert len(data["groups"]) == len(report.groups)
    assert data["groups"][0]["keeper"] == report.groups[0].keeper
    with report.write(tmp_path / "dups.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(len(g.files) for g in report.groups)
    assert {r["match"] for r in rows} >= {"keeper", "near-exact"}
    with pytest.raises(BadInputError, match=r"\.json or \.csv"):
        report.write(tmp_path / "dups.txt")


def test_clean_up_moves_copies_to_trash_and_keeps_keepers(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    image = _load("astronaut")
    image.save(folder / "a.png")
    image.transpose(T.ROTATE_90).save(folder / "a-rotated.jpg", quality=85)
    _load("rocket").save(folder / "r.png")
    _load("coffee").save(folder / "c.png")
    vectors = {"a": unit(0, 1, 0), "a-rotated": unit(0, 1, 0)}
    vectors |= {"r": unit(1, 0, 0), "c": unit(1, 0.05, 0)}
    FakeClip(images=vectors).install(monkeypatch)
    report = find_duplicates(folder, semantic_threshold=0.99)
    assert sorted(g.kind for g in report.groups) == ["near-exact", "semantic"]
    with pytest.raises(BadInputError):
        remove_duplicates(report)
    with pytest.raises(BadInputError):
        remove_duplicates(report, trash=tmp_path / "trash", delete=True)
    removed = remove_duplicates(report, trash=tmp_path / "trash")
    assert removed == (str(folder / "a-rotated.jpg"),)
    assert (tmp_path / "trash" / "a-rotated.jpg").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "c.png", "r.png"]
    semantic = remove_duplicates(report, delete=True, kinds=("semantic",))
    assert len(semantic) == 1 and len(list(folder.iterdir())) == 2


def test_bad_thresholds_are_rejected(tmp_path):
    with pytest.raises(BadInputError):
        find_duplicates(tmp_path, hash_distance=500, semantic=False)
    with pytest.raises(BadInputError):
        find_duplicates(tmp_path, semantic_threshold=2.0)


def test_progress_reports_each_stage_once_from_zero_to_its_total(tmp_path, monkeypatch):
    """Dedup used to run one bar from 0 to N twice (fingerprints, then CLIP); each stage now
    has its own name and total, and none restarts."""
    for name in ("astronaut", "coffee", "rocket"):
        _load(name).save(tmp_path / f"{name}.png")
    shutil.copyfile(tmp_path / "coffee.png", tmp_path / "coffee-2.png")
    vectors = {"astronaut": unit(1, 0, 0), "coffee": unit(1, 0.25, 0), "rocket": unit(0, 0, 1)}
    FakeClip(images=vectors).install(monkeypatch)
    seen = []
    find_duplicates(tmp_path, progress=seen.append)
    stages = list(dict.fromkeys(r.stage for r in seen))
    assert stages == ["hash", "compare", "embed"]
    for stage in stages:
        reports = [r for r in seen if r.stage == stage]
        assert [r.done for r in reports] == sorted(r.done for r in reports)
        assert reports[-1].done == reports[-1].total == 3  # distinct contents, not files
    assert seen[0].done == 0 and seen[0].stage == "hash"


def test_a_cancelled_scan_stops_with_cancelled_error(tmp_path):
    from polymodal.errors import CancelledError
    from polymodal.progress import CancelToken

    for name in ("astronaut", "coffee"):
        _load(name).save(tmp_path / f"{name}.png")
    token = CancelToken()
    token.cancel("interrupted")
    with pytest.raises(CancelledError, match="interrupted"):
        find_duplicates(tmp_path, semantic=False, cancel=token)


def test_csv_rows_are_the_rendered_files(library_report, tmp_path):
    from polymodal import render

    with library_report.write(tmp_path / "dups.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = render.to_data(library_report.groups[0].files[0])
    assert {k: rows[0][k] for k in first} == {
        k: "" if v is None else str(v) for k, v in first.items()
    }
    assert rows[0]["group"] == "1" and rows[0]["keeper"] == library_report.groups[0].keeper
