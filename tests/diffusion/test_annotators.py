"""``--control depth`` from a photo: a tiny random DPT, saved with ``save_pretrained`` and loaded
by its folder through the catalogue (offline), makes the map the ControlNet sees."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import polymodal
from polymodal.catalog import load
from polymodal.diffusion import annotators
from polymodal.errors import BadInputError, ModelUnavailableError

FAST = {"steps": 3, "width": 64, "height": 64, "seed": 8}


@pytest.fixture(scope="module")
def tiny_dpt_dir(tmp_path_factory):
    """A DPT of tiny widths, initialised wider than transformers' default (std 0.2, not 0.02:
    at 0.02 the tiny head's output is ~1e-10 whatever the input), so its depth follows it."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                       intermediate_size=32, image_size=32, patch_size=8,
                       backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 8, 8],
                       fusion_hidden_size=8, head_hidden_size=8,
                       reassemble_factors=[4, 2, 1, 0.5], initializer_range=0.2)  # fmt: skip
    torch.manual_seed(0)
    model = DPTForDepthEstimation(config).eval()
    folder = tmp_path_factory.mktemp("dpt") / "tiny-dpt"
    model.save_pretrained(folder)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(
        folder
    )
    return folder


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image, dtype=np.int16)


def test_grey_pictures_are_maps_colour_ones_are_photos(photo, tmp_path):
    grey = Image.open(photo).convert("L")
    assert annotators.is_map(grey)
    assert annotators.is_map(grey.convert("RGB"))  # a depth map saved as RGB
    assert not annotators.is_map(Image.open(photo))


def test_the_estimated_depth_follows_the_photo(tiny_dpt_dir, photo):
    estimator = load(str(tiny_dpt_dir), "depth")
    picture = Image.open(photo)
    depth = np.asarray(annotators.estimate_depth(estimator, picture, (48, 64)))
    assert depth.shape == (64, 48, 3) and annotators.is_map(Image.fromarray(depth))
    assert depth.min() == 0 and depth.max() == 255  # scaled to the full range per image
    turned = np.asarray(annotators.estimate_depth(estimator, picture.rotate(90), (48, 64)))
    assert np.abs(depth.astype(int) - turned).mean() > 5


def test_depth_control_from_a_photo_uses_the_estimated_map(
    tiny_sd_dir, tiny_controlnet_dir, tiny_dpt_dir, photo, tmp_path
):
    common = {"control": "depth", "control_model": tiny_controlnet_dir, "model": tiny_sd_dir}
    estimated = polymodal.generate(
        "a cat", control_image=photo, control_annotator=tiny_dpt_dir, **common, **FAST
    )
    p = estimated.images[0].parameters
    assert (p.control_preprocess, p.control_annotator) == (True, str(tiny_dpt_dir.resolve()))
    depth_map = tmp_path / "depth.png"
    made = annotators.estimate_depth(load(str(tiny_dpt_dir), "depth"), Image.open(photo), (64, 64))
    made.convert("L").save(depth_map)
    ready = polymodal.generate("a cat", control_image=depth_map, **common, **FAST)
    assert ready.images[0].parameters.control_preprocess is False
    assert ready.images[0].parameters.control_annotator is None
    assert np.array_equal(pixels(estimated), pixels(ready)), "the ControlNet saw another map"
    raw = polymodal.generate("a cat", control_image=photo, control_preprocess=False,
                             **common, **FAST)  # fmt: skip
    assert not np.array_equal(pixels(estimated), pixels(raw))

    saved = polymodal.save_images(estimated, tmp_path / "depth-out.png").images[0].path
    info = polymodal.read_parameters(saved)
    assert 'ControlNet 0: "Module: depth_midas, Model: tiny-controlnet, Weight: 1"' in info.raw
    redo = next(polymodal.iter_generate(polymodal.options_from_image(saved)))
    assert np.array_equal(np.asarray(redo.image, dtype=np.int16), pixels(estimated))


def test_depth_without_its_model_and_pose_from_a_photo_get_sentences(
    tiny_sd_dir, tiny_controlnet_dir, photo
):
    common = {"control_model": tiny_controlnet_dir, "model": tiny_sd_dir, **FAST}
    with pytest.raises(ModelUnavailableError, match=r"dpt-hybrid-midas.*not available offline"):
        polymodal.generate("a cat", control="depth", control_image=photo, **common)
    with pytest.raises(BadInputError, match="needs the OpenPose annotator"):
        polymodal.generate("a cat", control="pose", control_image=photo,
                           control_preprocess=True, **common)  # fmt: skip
