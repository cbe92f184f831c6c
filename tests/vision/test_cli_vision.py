"""The vision commands: output, exit codes, bad input, and skipping bad files in a batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _vision_helpers import FakeClip, random_unit, touch_images, unit
from PIL import Image
from typer.testing import CliRunner

import polymodal.cli.vision  # noqa: F401  (registers the commands)
from polymodal.cli.app import app

DIM = 64
runner = CliRunner()


def _text(text: str) -> np.ndarray:
    for word, axis in (("cat", 0), ("dog", 1), ("car", 2)):
        if word in text:
            return unit(*[1.0 if i == axis else 0.0 for i in range(DIM)])
    return random_unit(text, DIM)


@pytest.fixture
def images(tmp_path):
    return touch_images(tmp_path / "imgs", ["tabby", "puppy"])


@pytest.fixture
def fake(monkeypatch):
    photo = 0.8 * random_unit("a photo", DIM)
    vectors = {
        "tabby": unit(*(np.eye(DIM)[0] * 0.4 + 0.1 * np.eye(DIM)[1])),
        "puppy": unit(*(np.eye(DIM)[1] * 0.4 + 0.1 * np.eye(DIM)[0])),
        "gun": unit(*(random_unit("a photo of a gun", DIM) + photo)),
        "a": unit(*(np.eye(DIM)[3])),
        "b": unit(*(np.eye(DIM)[3] + 0.2 * np.eye(DIM)[4])),
        "c": unit(*(np.eye(DIM)[5])),
    }
    return FakeClip(images=vectors, text_rule=_text).install(monkeypatch)


def test_classify_json(fake, images):
    result = runner.invoke(
        app, ["classify", str(images["tabby"]), str(images["puppy"]), "-l", "cat,dog", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [item["predicted"] for item in data["items"]] == [["cat"], ["dog"]]
    assert data["labels"] == ["cat", "dog"] and data["failures"] == []


def test_classify_table_with_labels_file_and_advice(fake, images, tmp_path):
    """The real advisor calls "two dogs" a counting label and routes it to the detector."""
    labels = tmp_path / "labels.txt"
    labels.write_text("# animals\ncat\n\ndog\ntwo dogs\n")
    result = runner.invoke(app, ["classify", str(images["tabby"]), "--labels-file", str(labels)])
    assert result.exit_code == 0, result.output
    assert "cat" in result.stdout and "✓" in result.stdout
    assert "polymodal count" in result.stdout


def test_classify_skips_a_bad_file_and_fails_when_all_are_bad(fake, images, tmp_path):
    bad = tmp_path / "imgs" / "broken.jpg"
    bad.write_bytes(b"junk")
    mixed = runner.invoke(app, ["classify", str(images["tabby"]), str(bad), "-l", "cat,dog"])
    assert mixed.exit_code == 0
    assert "skipped" in mixed.stderr and "broken.jpg" in mixed.stderr
    only_bad = runner.invoke(app, ["classify", str(bad), "-l", "cat,dog"])
    assert only_bad.exit_code == 2 and "could be read" in only_bad.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify", "{tabby}"], "--labels"),
        (["classify", "nowhere.jpg", "-l", "cat,dog"], "no such file or folder"),
        (["classify", "{tabby}", "-l", "cat,dog", "--threshold", "high"], "--threshold"),
        (["classify", "{tabby}", "-l", "cat"], "at least two labels"),
        (
            ["classify", "{tabby}", "-l", "cat,dog", "--ensemble", "--template", "art of {{}}"],
            "not both",
        ),
        (["classify", "{tabby}", "--labels-file", "none.txt"], "does not exist"),
        (["similar", "{tabby}"], "--among"),
        (["similar", "{tabby}", "a cat"], "use --text"),
        (["classify", "{tabby}", "-l", "cat,dog", "--threshold", "2"], "--threshold"),
        (["moderate", "{tabby}", "--categories", "none.toml"], "does not exist"),
        (["dedup", "{dir}", "--no-semantic", "--report", "out.xml"], ".json or .csv"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(fake, images, args, message):
    args = [a.format(tabby=images["tabby"], dir=images["tabby"].parent) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_classify_multi_label_with_per_label_threshold(fake, images):
    args = ["classify", str(images["tabby"]), "-l", "cat,dog,car", "--multi-label", "--json"]
    loose = json.loads(runner.invoke(app, [*args, "--threshold", "0.2"]).stdout)
    assert loose["items"][0]["predicted"] == ["cat", "dog"]
    strict = json.loads(runner.invoke(app, [*args, "--threshold", "dog=0.5"]).stdout)
    assert strict["items"][0]["predicted"] == ["cat"]


def test_similar_pair_and_ranking(fake, tmp_path):
    paths = touch_images(tmp_path / "pool", ["a", "b", "c"])
    pair = runner.invoke(app, ["similar", str(paths["a"]), str(paths["b"])])
    expected = float(fake.images["a"] @ fake.images["b"])
    assert pair.exit_code == 0 and float(pair.stdout) == pytest.approx(expected, abs=1e-4)
    ranked = runner.invoke(
        app, ["similar", str(paths["a"]), "--among", str(tmp_path / "pool"), "--json"]
    )
    data = json.loads(ranked.stdout)
    assert [Path(m["path"]).stem for m in data["matches"]] == ["b", "c"]
    text = runner.invoke(app, ["similar", str(paths["a"]), "--text", "a dog", "--json"])
    assert text.exit_code == 0, text.output
    found = json.loads(text.stdout)
    assert (found["a"], found["b"], found["b_kind"]) == (str(paths["a"]), "a dog", "text")
    assert found["similarity"] == pytest.approx(float(fake.images["a"] @ _text("a dog")), abs=1e-4)


def test_dedup_writes_reports_and_moves_only_when_asked(fake, tmp_path):
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    shutil.copyfile(folder / "coffee.png", folder / "coffee copy.png")
    Image.fromarray(data.rocket()).save(folder / "rocket.png")
    report = tmp_path / "dups.csv"
    shown = runner.invoke(app, ["dedup", str(folder), "--no-semantic", "--report", str(report)])
    assert shown.exit_code == 0, shown.output
    assert "1 group," in shown.stdout and report.exists()
    assert len(list(folder.iterdir())) == 3
    refused = runner.invoke(app, ["dedup", str(folder), "--no-semantic", "--delete"], input="n\n")
    assert refused.exit_code != 0 and len(list(folder.iterdir())) == 3
    moved = runner.invoke(
        app, ["dedup", str(folder), "--no-semantic", "--json", "--move-to", str(tmp_path / "t")]
    )
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["groups"][0]["kind"] == "exact"
    assert sorted(p.name for p in folder.iterdir()) == ["coffee.png", "rocket.png"]
    assert (tmp_path / "t" / "coffee copy.png").exists()


def test_moderate_says_it_is_a_screening_aid(fake, tmp_path):
    paths = touch_images(tmp_path / "m", ["gun", "tabby"])
    table = runner.invoke(app, ["moderate", str(paths["gun"]), str(paths["tabby"])])
    assert table.exit_code == 0, table.output
    assert "screening aid" in table.stdout.lower() and "FLAGGED" in table.stdout
    data = json.loads(runner.invoke(app, ["moderate", str(paths["gun"]), "--json"]).stdout)
    assert data["items"][0]["flagged_categories"] == ["weapons"]
    assert "screening aid" in data["notice"].lower()
