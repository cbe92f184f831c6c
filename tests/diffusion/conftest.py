"""Diffusion fixtures: a tiny random Stable Diffusion pipeline saved like a real one.

Built from configs (small UNet, VAE with SD's 8x downscale, a 2-layer CLIP text encoder and a
byte-level BPE tokenizer whose vocab and merges the fixture writes), saved with
``save_pretrained`` and loaded through the catalogue by its folder path, as users do. A 64x64
image takes a fraction of a second per step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_pipelines import build_tiny_pipeline, build_tiny_sdxl


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory) -> Path:
    """The tiny SDXL pipeline as a diffusers folder."""
    folder = tmp_path_factory.mktemp("tiny-sdxl") / "tiny-sdxl"
    build_tiny_sdxl().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_pipeline():
    return build_tiny_pipeline()


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory, tiny_pipeline) -> Path:
    """The tiny pipeline as a diffusers folder (``save_pretrained``)."""
    folder = tmp_path_factory.mktemp("tiny-sd") / "tiny-sd"
    tiny_pipeline.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_sd_file(tmp_path_factory, tiny_pipeline) -> Path:
    """The tiny pipeline as one original-layout ``.safetensors`` checkpoint, as downloaded."""
    from _single_file import save_single_file

    return save_single_file(
        tiny_pipeline, tmp_path_factory.mktemp("ckpt") / "tiny-ckpt.safetensors"
    )


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


@pytest.fixture(autouse=True)
def _isolated_home(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread for the tiny models: on the shared 2-core host under load ~5, two
    threads took 1.5 s per tiny step against 0.011 s with one (the threads wait on each other
    while other processes hold the cores). Restored after each module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def _fresh_models():
    """Each module starts with no resident diffusion model; within a module the model stays
    loaded, as in a long-running server, so LoRA state must not leak between requests."""
    from polymodal.catalog import unload

    unload(family="diffusion")
    unload(family="controlnet")
    yield
    unload(family="diffusion")
    unload(family="controlnet")


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> Path:
    """A 64x64 picture with structure (gradients and a square), as the init image."""
    y, x = np.mgrid[0:64, 0:64]
    array = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    array[20:44, 20:44] = (250, 30, 30)
    path = tmp_path_factory.mktemp("inputs") / "photo.png"
    Image.fromarray(array).save(path)
    return path


@pytest.fixture(scope="session")
def mask(tmp_path_factory) -> Path:
    """White (repaint) over the right half of a 64x64 image, black elsewhere."""
    array = np.zeros((64, 64), dtype=np.uint8)
    array[:, 32:] = 255
    path = tmp_path_factory.mktemp("masks") / "mask.png"
    Image.fromarray(array).save(path)
    return path
