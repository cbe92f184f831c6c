"""The one folder walker and the one atomic writer: the rules every room relies on."""

from __future__ import annotations

import os

import pytest

from polymodal.errors import BadInputError
from polymodal.media.files import atomic_path, find_files, write_atomic


def _is_text(path):
    return path.suffix == ".txt"


def _tree(root):
    (root / "b").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "b" / "c.txt").write_text("c")
    (root / "b" / "skip.bin").write_bytes(b"\0")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "d.txt").write_text("d")
    (root / ".e.txt").write_text("e")
    return root


def test_folders_are_walked_sorted_without_hidden_entries(tmp_path):
    root = _tree(tmp_path / "tree")
    found = find_files(root, _is_text)
    assert [f.path.relative_to(root).as_posix() for f in found] == ["a.txt", "b/c.txt"]
    assert {f.root for f in found} == {root}
    assert found[1].relative.as_posix() == "b/c.txt"


def test_not_recursive_stays_in_the_folder(tmp_path):
    root = _tree(tmp_path / "tree")
    assert [f.path.name for f in find_files(root, _is_text, recursive=False)] == ["a.txt"]


def test_a_folder_link_loop_is_not_followed(tmp_path):
    root = _tree(tmp_path / "tree")
    os.symlink(root, root / "b" / "loop")
    assert len(find_files(root, _is_text)) == 2


def test_named_files_are_kept_whatever_their_type_and_listed_once(tmp_path):
    root = _tree(tmp_path / "tree")
    odd = root / "b" / "skip.bin"
    found = find_files([odd, root, root / "a.txt"], _is_text)
    assert [f.path for f in found] == [odd, root / "a.txt", root / "b" / "c.txt"]
    assert found[0].root == odd.parent


def test_missing_path_and_empty_folder_are_errors_naming_the_param(tmp_path):
    with pytest.raises(BadInputError, match="no such file or folder") as missing:
        find_files(tmp_path / "nope", _is_text, param="images")
    assert missing.value.param == "images"
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="contains no image files"):
        find_files(tmp_path / "empty", _is_text, kind="image")


def test_write_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "out" / "t.srt"
    write_atomic(target, "first\n")
    write_atomic(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["t.srt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.npy"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".npy" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.npy"]
