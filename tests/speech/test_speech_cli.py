"""``polymodal transcribe`` end to end: output on stdout, files, JSON, and every bad input."""

from __future__ import annotations

import json

import pytest
from speech_clips import SHORT, wer
from typer.testing import CliRunner

from polymodal.cli import _register, app

_register()
runner = CliRunner()
TINY = ["--model", "whisper-tiny.en"]


def invoke(*args):
    return runner.invoke(app, ["transcribe", *map(str, args)])


@pytest.mark.parametrize(
    ("kind", "code", "phrase"),
    [
        ("missing", 2, "no such file"),
        ("directory", 2, "contains no audio or video files"),
        ("text", 2, "not an audio or video file"),
        ("empty", 2, "empty (0 bytes)"),
        ("corrupt", 2, "corrupt"),
        ("zero", 2, "zero length"),
        ("video", 2, "no audio stream"),
    ],
)
def test_bad_inputs_exit_with_one_line(bad_files, kind, code, phrase):
    result = invoke(bad_files[kind], *TINY)
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0] and lines[0].startswith("error:")
    assert result.stdout == ""


@pytest.mark.slow
def test_silence_or_noise_only_is_an_error(noise_only_wav):
    result = invoke(noise_only_wav, *TINY)
    assert result.exit_code == 2 and "no speech" in result.stderr


def test_unknown_model_and_language(short_wav):
    result = invoke(short_wav, "--model", "whisper-huge")
    assert result.exit_code == 3 and "Unknown model 'whisper-huge'" in result.stderr
    result = invoke(short_wav, "--language", "xx")
    assert result.exit_code == 2 and "Unknown language code 'xx'" in result.stderr
    result = invoke(short_wav, *TINY, "--language", "de")
    assert result.exit_code == 2 and "English-only" in result.stderr


@pytest.mark.slow
def test_prints_transcript_and_json(short_wav):
    result = invoke(short_wav, *TINY)
    assert result.exit_code == 0, result.stderr
    assert wer(SHORT, result.stdout) < 0.25
    assert "language en" in result.stderr
    data = json.loads(invoke(short_wav, *TINY, "--json", "--language", "en").stdout)
    assert data["language"] == "en" and data["segments"]


@pytest.mark.slow
def test_out_folder_reports_bad_file_and_exit_code(short_wav, bad_files, tmp_path):
    result = invoke(
        short_wav, bad_files["text"], *TINY, "--out", tmp_path, "--format", "srt", "--json"
    )
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert [f["status"] for f in report["files"]] == ["written", "failed"]
    assert (tmp_path / "short.srt").exists()


def test_speaker_flags_are_validated_before_work(short_wav):
    result = invoke(short_wav, *TINY, "--speakers", "many")
    assert result.exit_code == 2 and "--speakers" in result.stderr


def test_compute_type_float32_transcribes_and_unknown_types_are_refused(short_wav):
    result = invoke(short_wav, *TINY, "--compute-type", "float32", "--language", "en")
    assert result.exit_code == 0, result.stderr
    assert wer(SHORT, result.stdout) < 0.25
    from polymodal.speech import Transcriber

    assert (
        Transcriber("whisper-tiny.en", compute_type="float32").engine.model.model.compute_type
        == "float32"
    )
    result = invoke(short_wav, *TINY, "--compute-type", "int3")
    assert result.exit_code == 2
    assert "Compute type 'int3' is not available on cpu" in result.stderr
