"""ControlNet on the tiny pipeline: canny edges by OpenCV, a tiny ControlNetModel that runs
(text-to-image, img2img and inpainting)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import polymodal
from polymodal.cli import _register, app
from polymodal.errors import BadInputError

FAST = {"steps": 3, "width": 64, "height": 64, "seed": 13}


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image, dtype=np.int16)


def test_canny_draws_white_edges_on_black():
    square = np.zeros((64, 48, 3), dtype=np.uint8)
    square[16:40, 12:36] = 200
    edges = np.asarray(polymodal.canny_edges(Image.fromarray(square)))
    assert edges.shape == (64, 48, 3) and set(np.unique(edges)) <= {0, 255}
    for border in (edges[15:17, 14:34], edges[39:41, 14:34], edges[18:38, 11:13]):
        assert border.max() == 255
    assert edges[20:36, 16:32].max() == 0 and edges[:8].max() == 0  # flat areas: no edges


def test_the_control_image_guides_the_output(tiny_sd_dir, tiny_controlnet_dir, photo, tmp_path):
    flipped = tmp_path / "flipped.png"
    Image.open(photo).rotate(90).save(flipped)
    common = {"control": "canny", "control_model": tiny_controlnet_dir, "model": tiny_sd_dir}
    guided = polymodal.generate("a cat", control_image=photo, **common, **FAST)
    other = polymodal.generate("a cat", control_image=flipped, **common, **FAST)
    assert not np.array_equal(pixels(guided), pixels(other))
    p = guided.images[0].parameters
    assert (p.control, p.control_scale, p.control_model) == (
        "canny",
        1.0,
        str(tiny_controlnet_dir.resolve()),
    )
    plain = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    off = polymodal.generate("a cat", control_image=photo, control_scale=0, **common, **FAST)
    assert np.array_equal(pixels(off), pixels(plain))


def test_control_with_an_init_image_img2img_and_inpainting(
    tiny_sd_dir, tiny_controlnet_dir, photo, mask, tmp_path
):
    flipped = tmp_path / "flipped.png"
    Image.open(photo).rotate(90).save(flipped)
    common = {"control": "canny", "control_model": tiny_controlnet_dir, "model": tiny_sd_dir,
              "init": photo, "strength": 0.8, **FAST}  # fmt: skip
    guided = polymodal.generate("a cat", control_image=photo, **common)
    other = polymodal.generate("a cat", control_image=flipped, **common)
    assert not np.array_equal(pixels(guided), pixels(other)), "the map was not used"
    again = polymodal.generate("a cat", control_image=photo, **common)
    assert np.array_equal(pixels(guided), pixels(again))
    p = guided.images[0].parameters
    assert (p.mode, p.control, p.strength) == ("img2img", "canny", 0.8)
    plain = polymodal.generate("a cat", model=tiny_sd_dir, init=photo, strength=0.8, **FAST)
    assert not np.array_equal(pixels(guided), pixels(plain))
    saved = polymodal.save_images(guided, tmp_path / "guided.png").images[0].path
    redo = polymodal.iter_generate(polymodal.options_from_image(saved))
    assert np.array_equal(np.asarray(next(redo).image, dtype=np.int16), pixels(guided))

    painted = polymodal.generate("a cat", control_image=flipped, mask=mask, **common)
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    out = pixels(painted)
    assert painted.images[0].parameters.mode == "inpaint"
    assert np.array_equal(out[:, :32], original[:, :32]), "unmasked pixels changed"
    assert np.abs(out[:, 32:] - original[:, 32:]).mean() > 1, "the masked half was not painted"
    unguided = polymodal.generate("a cat", control_image=photo, mask=mask, **common)
    assert not np.array_equal(pixels(unguided)[:, 32:], out[:, 32:])


def test_controlnet_bad_input(tiny_sd_dir, photo):
    with pytest.raises(BadInputError, match="Unknown control 'scribble'"):
        polymodal.generate("a cat", control="scribble", control_image=photo, model=tiny_sd_dir)
    with pytest.raises(BadInputError, match="needs both its kind and its image"):
        polymodal.generate("a cat", control="canny", model=tiny_sd_dir)


def test_control_from_the_shell_round_trips(tiny_sd_dir, tiny_controlnet_dir, photo, tmp_path):
    _register()
    runner = CliRunner()
    out, redo = tmp_path / "cn.png", tmp_path / "redo.png"
    args = ["generate", "a cat", "--seed", "3", "--steps", "2", "--size", "64x64",
            "--control", "canny", "--control-image", str(photo), "--control-scale", "0.7",
            "--control-model", str(tiny_controlnet_dir), "--model", str(tiny_sd_dir),
            "-o", str(out)]  # fmt: skip
    made = runner.invoke(app, args)
    assert made.exit_code == 0, made.output
    info = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert 'ControlNet 0: "Module: canny, Model: tiny-controlnet, Weight: 0.7"' in info["raw"]
    assert runner.invoke(app, ["generate", "--from", str(out), "-o", str(redo)]).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(redo)))
