"""Folder runs: resumable, a bad file is reported while the others complete, atomic writes."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from speech_clips import CLIP_TEXTS, wer

from polymodal.media import files as media_files
from polymodal.media.files import write_atomic
from polymodal.speech import folders, transcribe_folder


@pytest.fixture(scope="session")
def clip_folder(clip_dir, speak_to, bad_files):
    folder = clip_dir / "notes"
    (folder / "older").mkdir(parents=True)
    for i, text in enumerate(CLIP_TEXTS):
        where = folder / "older" if i == 2 else folder
        speak_to(text, where / f"note{i}.wav")
    shutil.copy(bad_files["text"], folder / "broken.wav")
    (folder / "readme.txt").write_text("not media, skipped by the walk")
    return folder


@pytest.mark.slow
def test_folder_run_writes_reports_and_resumes(clip_folder, tmp_path, tiny):
    out = tmp_path / "out"
    report = transcribe_folder(clip_folder, out, "all", transcriber=tiny)
    by_name = {f.path.name: f for f in report.files}
    assert set(by_name) == {"note0.wav", "note1.wav", "note2.wav", "broken.wav"}
    assert (report.written, report.failed, report.skipped) == (3, 1, 0)
    assert "broken.wav" in by_name["broken.wav"].reason
    assert "not an audio or video file" in by_name["broken.wav"].reason
    for i, text in enumerate(CLIP_TEXTS):
        sub = "older/" if i == 2 else ""
        data = json.loads((out / f"{sub}note{i}.json").read_text())
        assert wer(text, data["text"]) < 0.35
        assert data["source"].endswith(f"note{i}.wav")
        for fmt in ("txt", "srt", "vtt"):
            assert (out / f"{sub}note{i}.{fmt}").stat().st_size > 0
    assert not list(out.rglob(".*")), "no temporary files left behind"

    again = transcribe_folder(clip_folder, out, "all", transcriber=tiny)
    assert (again.written, again.skipped, again.failed) == (0, 3, 1)

    os.utime(clip_folder / "note1.wav")  # the source changed: only it is redone
    third = transcribe_folder(clip_folder, out, ["txt"], transcriber=tiny)
    statuses = {f.path.name: f.status for f in third.files}
    assert statuses == {
        "note0.wav": "skipped",
        "note1.wav": "written",
        "note2.wav": "skipped",
        "broken.wav": "failed",
    }


def test_interrupted_write_leaves_old_file_and_no_debris(tmp_path, monkeypatch):
    target = tmp_path / "talk.srt"
    target.write_text("old complete file")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(media_files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new text " * 1000)
    assert target.read_text() == "old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["talk.srt"]


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "deep" / "talk.vtt"
    write_atomic(target, "WEBVTT\n")
    write_atomic(target, "WEBVTT\n\nnew\n")
    assert target.read_text() == "WEBVTT\n\nnew\n"
    assert [p.name for p in target.parent.iterdir()] == ["talk.vtt"]


def test_same_stem_outputs_do_not_collide(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "a.mp3").write_bytes(b"x")
    files = folders.find_media([tmp_path])
    paths = folders.output_paths(files, tmp_path / "out", ["txt"])
    names = sorted(p[0].name for p in paths)
    assert names == ["a.mp3.txt", "a.wav.txt"]
