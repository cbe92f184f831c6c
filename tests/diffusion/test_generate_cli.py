"""``polymodal generate`` and ``polymodal info`` through Typer's runner: files, JSON, --from,
and each bad input's sentence with a non-zero exit and nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from polymodal.cli import _register, app

_register()
runner = CliRunner()
FAST = ["--steps", "3", "--size", "64x64"]


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_generate_writes_a_png_that_info_reads_and_from_recreates(tiny_sd_dir, tmp_path):
    out = tmp_path / "out.png"
    made = _run(
        "generate", "a red house", "--seed", "123", *FAST, "-o", out, "--model", tiny_sd_dir
    )
    assert made.exit_code == 0, made.output
    assert "seed 123" in made.stdout and out.exists()

    info = _run("info", out, "--json")
    assert info.exit_code == 0, info.output
    data = json.loads(info.stdout)
    assert data["source"] == "polymodal" and data["parameters"]["seed"] == 123
    assert data["raw"].startswith("a red house\nNegative prompt: blurry")
    assert "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 123" in data["raw"]
    table = _run("info", out)
    assert "a red house" in table.stdout and "DPM++ 2M Karras" in table.stdout

    again = tmp_path / "again.png"
    redo = _run("generate", "--from", out, "-o", again)
    assert redo.exit_code == 0, redo.output
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    varied = tmp_path / "varied.png"
    assert _run("generate", "--from", out, "--seed", "124", "-o", varied).exit_code == 0
    assert not np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(varied)))
    assert json.loads(_run("info", varied, "--json").stdout)["parameters"]["seed"] == 124


def test_the_speed_preset_is_recorded_and_from_reuses_it(tiny_sd_dir, tmp_path):
    fast, redo, default = tmp_path / "fast.png", tmp_path / "redo.png", tmp_path / "default.png"
    made = _run("generate", "a cat", "--seed", "4", "--steps", "6", "--size", "64x64",
                "--speed", "fast", "-o", fast, "--model", tiny_sd_dir)  # fmt: skip
    assert made.exit_code == 0, made.output
    data = json.loads(_run("info", fast, "--json").stdout)
    assert data["parameters"]["speed"] == "fast" and "Polymodal speed: fast" in data["raw"]
    assert "Polymodal speed" not in data["extra"]  # read into the parameters, not left over
    assert "fast" in _run("info", fast).stdout
    assert _run("generate", "--from", fast, "-o", redo).exit_code == 0
    assert json.loads(_run("info", redo, "--json").stdout)["parameters"]["speed"] == "fast"
    assert np.array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(redo)))
    assert _run("generate", "--from", fast, "--speed", "default", "-o", default).exit_code == 0
    assert not np.array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(default)))
    assert json.loads(_run("info", default, "--json").stdout)["parameters"]["speed"] == "default"


def test_an_a1111_text_with_our_speed_key_reads_it(tmp_path):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 6, Sampler: Euler a, CFG scale: 7, Seed: 1, "
                  "Size: 64x64, Polymodal speed: fast, Version: v1.9.4")  # fmt: skip
    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    data = json.loads(_run("info", path, "--json").stdout)
    assert data["source"] == "a1111" and data["parameters"]["speed"] == "fast"


def test_generate_json_with_several_images(tiny_sd_dir, tmp_path):
    out = tmp_path / "batch.png"
    made = _run("generate", "a cat", "-n", "2", *FAST, "-o", out, "--model", tiny_sd_dir, "--json")
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert len(set(data["seeds"])) == 2
    paths = [image["path"] for image in data["images"]]
    assert paths == [str(tmp_path / "batch-1.png"), str(tmp_path / "batch-2.png")]


def test_img2img_and_inpainting_from_the_shell(tiny_sd_dir, photo, mask, tmp_path):
    out = tmp_path / "painted.png"
    made = _run("generate", "a cat", "--init", photo, "--mask", mask, "--strength", "1",
                "--steps", "2", "-o", out, "--model", tiny_sd_dir)  # fmt: skip
    assert made.exit_code == 0, made.output
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(out))[:, :32], original[:, :32])
    redo = tmp_path / "redo.png"
    assert _run("generate", "--from", out, "-o", redo).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(redo)))


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (["", *FAST], "The prompt is empty", 2),
        (["a cat", "--size", "500x512"], "width 500 is not a multiple of 8: try 496. (--size)", 2),
        (["a cat", "--size", "big"], "not WIDTHxHEIGHT", 2),
        (["a cat", "--scheduler", "Euler z"], "Unknown scheduler 'Euler z'. Did you mean", 2),
        (["a cat", "--model", "/nowhere/x.safetensors"], "no such checkpoint file", 3),
        (["a cat", "-o", "out.jpg"], "must be a .png file", 2),
    ],
)
def test_bad_input_one_sentence_nonzero_exit_nothing_written(tiny_sd_dir, tmp_path, monkeypatch,
                                                              args, words, code):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    model = [] if "--model" in args else ["--model", str(tiny_sd_dir)]
    result = _run("generate", *args, *model)
    assert result.exit_code == code, result.output
    assert words in result.stderr and result.stderr.count("\n") == 1
    assert not list(tmp_path.glob("*.png"))


def test_bad_init_and_mask_from_the_shell(tiny_sd_dir, photo, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("shopping list")
    out = tmp_path / "out.png"
    result = _run("generate", "a cat", "--init", notes, "-o", out, "--model", tiny_sd_dir)
    assert result.exit_code == 2 and "notes.png" in result.stderr and not out.exists()
    small = tmp_path / "m.png"
    Image.new("L", (16, 16)).save(small)
    result = _run("generate", "a cat", "--init", photo, "--mask", small, "-o", out,
                  "--model", tiny_sd_dir)  # fmt: skip
    assert result.exit_code == 2 and "must be the same size" in result.stderr
    assert not out.exists()


def test_cancelling_writes_nothing_half_done(tiny_sd_dir, tmp_path, monkeypatch):
    import polymodal
    from polymodal.cli import generate as cli_generate

    real = polymodal.iter_generate

    def cancelled_after_first(options, *, progress=None, cancel=None):
        for index, image in enumerate(real(options, progress=progress, cancel=cancel)):
            yield image
            if index == 0:
                cancel.cancel("interrupted")

    monkeypatch.setattr(cli_generate.polymodal, "iter_generate", cancelled_after_first)
    out = tmp_path / "run.png"
    result = _run("generate", "a cat", "-n", "3", *FAST, "-o", out, "--model", tiny_sd_dir)
    assert result.exit_code == 130, result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png") == ["run-1.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_info_on_a_file_without_parameters(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    result = _run("info", plain)
    assert result.exit_code == 2 and "carries no generation parameters" in result.stderr
