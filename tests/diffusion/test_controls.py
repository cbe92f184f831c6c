"""ControlNet on the tiny pipeline: canny edges by OpenCV, a tiny ControlNetModel that runs."""

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


@pytest.fixture(scope="session")
def tiny_controlnet_dir(tmp_path_factory, tiny_pipeline):
    """A ControlNet made from the tiny UNet, its zero convolutions randomised so it acts."""
    import torch
    from diffusers import ControlNetModel

    controlnet = ControlNetModel.from_unet(tiny_pipeline.unet, conditioning_channels=3)
    torch.manual_seed(0)
    with torch.no_grad():
        zeroed = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for conv in [*zeroed, controlnet.controlnet_cond_embedding.conv_out]:
            conv.weight.normal_(0, 0.3)
    folder = tmp_path_factory.mktemp("controlnet") / "tiny-controlnet"
    controlnet.save_pretrained(folder)
    return folder


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


def test_controlnet_bad_input(tiny_sd_dir, photo):
    with pytest.raises(BadInputError, match="Unknown control 'scribble'"):
        polymodal.generate("a cat", control="scribble", control_image=photo, model=tiny_sd_dir)
    with pytest.raises(BadInputError, match="needs both its kind and its image"):
        polymodal.generate("a cat", control="canny", model=tiny_sd_dir)
    with pytest.raises(BadInputError, match="does not take an init image"):
        polymodal.generate("a cat", control="canny", control_image=photo, init=photo,
                           model=tiny_sd_dir)  # fmt: skip


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
