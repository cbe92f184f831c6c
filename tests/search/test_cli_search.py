"""``polymodal index``, ``search`` and ``collections`` from the shell: JSON, tables, the contact
sheet, and one sentence per bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def cli():
    from polymodal.cli import _register, app

    _register()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def indexed(cli, photo_dir, tiny_clip_dir, tmp_path):
    db = tmp_path / "db"
    result = cli("index", photo_dir, "--model", tiny_clip_dir, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return db, json.loads(result.stdout)


def test_index_prints_what_changed(cli, indexed, photo_dir):
    db, report = indexed
    assert (report["added"], report["total"], report["skipped"]) == (6, 6, [])
    (photo_dir / "rocket.png").unlink()
    again = cli("index", photo_dir, "--db", db)
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 0 moved, 1 removed, 5 unchanged" in again.stdout


def test_search_by_example_json_and_contact_sheet(cli, indexed, photo_dir, tmp_path):
    db, _ = indexed
    sheet = tmp_path / "hits.html"
    result = cli("search", "--image", photo_dir / "red.png", "--db", db, "--json", "--html", sheet)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["hits"][0]["path"].endswith("red.png") and data["kind"] == "image"
    page = sheet.read_text()
    assert page.count("data:image/jpeg;base64,") == len(data["hits"]) >= 1
    assert 'src="file:' not in page  # thumbnails are inline: the page opens anywhere


def test_a_text_search_shows_a_table_or_says_nothing_matches(cli, indexed):
    db, _ = indexed
    result = cli("search", "a photo of a rocket", "--db", db)
    assert result.exit_code == 0, result.output
    assert "rank" in result.stdout or "matches 'a photo of a rocket'" in result.stdout
    anyway = cli("search", "a photo of a rocket", "--db", db, "--min-score", "-1", "--top", "2")
    assert anyway.stdout.count(".png") + anyway.stdout.count(".jpg") == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["search", "x", "--collection", "../x"], "not a collection name"),
        (["search", "x", "--collection", "holiday"], "no collection 'holiday'"),
        (["search", "x", "--where", "widht > 3"], "unknown column 'widht'"),
        (["search", "x", "--after", "yesterday"], "(--after)"),
        (["search"], "exactly one"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(cli, indexed, args, words):
    db, _ = indexed
    result = cli(*args, "--db", db)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def test_collections_lists_them(cli, indexed):
    db, _ = indexed
    result = cli("collections", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    [photos] = json.loads(result.stdout)
    assert photos["name"] == "photos" and photos["images"] == 6
