"""Speed presets on the tiny pipeline: DeepCache, the compiled UNet's cache and parity check."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch

import polymodal
from polymodal.catalog import load, unload
from polymodal.diffusion import speed
from polymodal.diffusion.backends import onnx
from polymodal.errors import BadInputError

FAST = {"steps": 6, "width": 64, "height": 64, "seed": 21}


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image.convert("RGB"), dtype=np.int16)


def resident_unet(tiny_sd_dir):
    return load(str(tiny_sd_dir), "diffusion").pipe.unet


def test_fast_runs_deep_blocks_on_one_step_in_three_and_reproduces(tiny_sd_dir):
    default = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    # The first fast request also checks int8 against fp32 (one more UNet call, once).
    polymodal.generate("a cat", model=tiny_sd_dir, speed="fast", **FAST)
    unet = resident_unet(tiny_sd_dir)
    deep_runs = []
    handle = unet.mid_block.resnets[0].register_forward_hook(lambda *_: deep_runs.append(1))
    try:
        fast = polymodal.generate("a cat", model=tiny_sd_dir, speed="fast", **FAST)
    finally:
        handle.remove()
    assert len(deep_runs) == 2, "6 steps at interval 3: the deep blocks run on steps 1 and 4"
    again = polymodal.generate("a cat", model=tiny_sd_dir, speed="fast", **FAST)
    assert np.array_equal(pixels(fast), pixels(again))
    assert not np.array_equal(pixels(fast), pixels(default)), "the cached steps changed nothing"
    assert any("tiny VAE" in note for note in fast.images[0].notes)
    after = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    assert np.array_equal(pixels(after), pixels(default)), "the hooks stayed on the shared UNet"


def test_fast_stays_close_to_the_full_computation(tiny_sd_dir):
    default = pixels(polymodal.generate("a dog", model=tiny_sd_dir, **FAST))
    fast = pixels(polymodal.generate("a dog", model=tiny_sd_dir, speed="fast", **FAST))
    other_seed = pixels(polymodal.generate("a dog", model=tiny_sd_dir, **{**FAST, "seed": 22}))
    assert np.abs(fast - default).mean() < np.abs(other_seed - default).mean() / 2


def test_the_compiled_unet_matches_eager_and_its_cache_is_reused(tiny_sd_dir, monkeypatch):
    eager = pixels(polymodal.generate("a red house", model=tiny_sd_dir, **FAST))
    monkeypatch.setattr(speed, "ONNX_MIN_PARAMETERS", 0)
    onnx.EXPORTS.clear()
    unload(family="diffusion")
    reports = []
    first = polymodal.generate("a red house", model=tiny_sd_dir, progress=reports.append, **FAST)
    assert len(onnx.EXPORTS) == 1 and "compile" in {r.stage for r in reports}
    assert np.abs(pixels(first) - eager).max() <= 2, "ONNX Runtime changed the image"
    unload(family="diffusion")  # a fresh process's view: only the disk cache is left
    reports.clear()
    second = polymodal.generate("a red house", model=tiny_sd_dir, progress=reports.append, **FAST)
    assert len(onnx.EXPORTS) == 1, "the second load compiled again"
    assert "compile" not in {r.stage for r in reports}
    assert np.array_equal(pixels(first), pixels(second))
    unload(family="diffusion")


def test_a_broken_export_falls_back_to_eager_with_a_warning(tiny_sd_dir, monkeypatch):
    eager = pixels(polymodal.generate("a blue house", model=tiny_sd_dir, **FAST))
    real_export = onnx.export

    def broken(unet, shape, folder):
        wrong = copy.deepcopy(unet)
        with torch.no_grad():
            wrong.conv_out.weight.mul_(-3.0)
        real_export(wrong, shape, folder)

    monkeypatch.setattr(onnx, "export", broken)
    monkeypatch.setattr(speed, "ONNX_MIN_PARAMETERS", 0)
    onnx.EXPORTS.clear()
    unload(family="diffusion")
    with pytest.warns(RuntimeWarning, match="does not match PyTorch"):
        result = polymodal.generate("a blue house", model=tiny_sd_dir, **FAST)
    assert any("using PyTorch eager" in note for note in result.images[0].notes)
    assert np.array_equal(pixels(result), eager)
    unload(family="diffusion")
    with pytest.warns(RuntimeWarning, match="does not match PyTorch"):
        polymodal.generate("a blue house", model=tiny_sd_dir, **FAST)
    assert len(onnx.EXPORTS) == 1, "a failed export was retried instead of remembered"
    unload(family="diffusion")


def test_an_unknown_speed_is_one_sentence(tiny_sd_dir):
    with pytest.raises(BadInputError, match="Unknown speed 'turbo': choose default or fast"):
        polymodal.generate("a cat", model=tiny_sd_dir, speed="turbo", **FAST)


def test_vae_tiling_turns_on_only_when_the_whole_decode_does_not_fit(monkeypatch):
    from polymodal.diffusion import memory

    monkeypatch.setattr(memory, "free_memory_mb", lambda: 2000.0)
    assert not speed.vae_tiling(512, 512, None)
    assert speed.vae_tiling(1024, 1024, None)  # 4 GB whole, about 1.1 GB in tiles
    assert not speed.vae_tiling(1024, 1024, False) and speed.vae_tiling(64, 64, True)
    monkeypatch.setattr(memory, "free_memory_mb", lambda: 1000.0)
    with pytest.raises(polymodal.TooLargeError):
        speed.vae_tiling(1024, 1024, None)


def test_generate_help_states_each_preset_and_its_trade():
    from typer.testing import CliRunner

    from polymodal.cli import _register, app

    _register()
    text = CliRunner().invoke(app, ["generate", "--help"], terminal_width=200).output
    text = " ".join(text.replace("│", " ").split())
    assert "--speed" in text and "DeepCache" in text and "exact quality" in text


def test_the_cache_key_is_the_same_in_every_process():
    """A key that changed between processes would compile on every run (diffusers keeps a
    set's order in a built UNet's config, ``_use_default_values``)."""
    import subprocess
    import sys

    code = (
        "import torch; from diffusers import UNet2DConditionModel; "
        "from polymodal.diffusion.backends.onnx import weights_digest; torch.manual_seed(0); "
        "print(weights_digest(UNet2DConditionModel(block_out_channels=(8, 16), "
        "layers_per_block=1, sample_size=8, cross_attention_dim=16, attention_head_dim=2, "
        "norm_num_groups=4, down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D'), "
        "up_block_types=('CrossAttnUpBlock2D', 'UpBlock2D'))))"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1 and len(next(iter(keys))) == 20


def test_fast_decodes_with_the_tiny_vae_when_its_weights_are_here(
    tiny_sd_dir, tmp_path, monkeypatch
):
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    folder = tmp_path / "taesd"
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).save_pretrained(folder)
    monkeypatch.setattr(speed, "find_tiny_vae", lambda is_xl: folder)
    full = load(str(tiny_sd_dir), "diffusion").pipe.vae
    full_decodes = []
    handle = full.decoder.register_forward_hook(lambda *_: full_decodes.append(1))
    try:
        result = polymodal.generate("a cat", model=tiny_sd_dir, speed="fast", **FAST)
    finally:
        handle.remove()
    assert result.images[0].image.size == (64, 64) and not full_decodes
    assert not any("tiny VAE" in note for note in result.images[0].notes)
    assert load(str(tiny_sd_dir), "diffusion").pipe.vae is full, "the shared VAE was replaced"


def test_the_tiny_vae_loads_through_the_catalogue(tmp_path):
    from diffusers import AutoencoderTiny

    folder = tmp_path / "taesd"
    blocks = (8, 8, 8, 8)
    AutoencoderTiny(
        encoder_block_out_channels=blocks, decoder_block_out_channels=blocks
    ).save_pretrained(folder)
    assert isinstance(polymodal.load_model(str(folder), "vae"), AutoencoderTiny)


def test_openvino_runs_the_export_when_installed():
    """The faster runtime is the one chosen (``generate`` installs it), and the cache key
    names it, so a verdict checked on one runtime is never trusted for the other."""
    assert onnx.runtime() == "openvino"
    assert "-openvino2026" in onnx.versions()


@pytest.mark.parametrize("name", ["openvino", "onnxruntime"])
def test_each_runtime_runs_the_export_as_pytorch_does(tiny_sd_dir, tmp_path, monkeypatch, name):
    unet = resident_unet(tiny_sd_dir)
    size = int(unet.config.sample_size)
    shape = onnx.Shape(batch=2, height=size, width=size, tokens=77, channels=4, context=16)
    onnx.export(unet, shape, tmp_path)
    monkeypatch.setattr(onnx, "runtime", lambda: name)
    runner = onnx.OnnxUNet(tmp_path, shape, 0.0, threads=1)
    assert onnx.parity(unet, runner) >= onnx.PARITY_MIN
    # A result stays as it was after later calls (OpenVINO reuses its output buffer).
    zeros, ones = np.zeros(shape.sample(), np.float32), np.ones(shape.states(), np.float32)
    first = runner.run(zeros, 10.0, ones)
    kept = first.copy()
    second = runner.run(zeros + 1, 900.0, -ones)
    assert not np.array_equal(first, second) and np.array_equal(first, kept)


def test_a_cached_step_written_out_equals_the_hooked_one(tiny_sd_dir):
    """``shallow_step`` (what a cached step runs when full steps are compiled) gives what
    DeepCache's hooks give, from the deep features the full step left."""
    from polymodal.diffusion.backends import deepcache

    unet = resident_unet(tiny_sd_dir)
    generator = torch.Generator().manual_seed(3)
    first, second = (torch.randn(2, 4, 8, 8, generator=generator) for _ in range(2))
    states = torch.randn(2, 77, 16, generator=generator)
    with torch.inference_mode():
        with deepcache.deepcache(unet, 3), onnx.deep_features(unet) as seen:
            unet(first, 900, encoder_hidden_states=states)
            hooked = unet(second, 850, encoder_hidden_states=states).sample
        written = deepcache.shallow_step(unet, second, torch.tensor(850), states, seen[0])
        full = unet(second, 850, encoder_hidden_states=states).sample
    assert len(seen) == 2 and torch.equal(seen[0], seen[1]), "the cached step read new features"
    assert torch.allclose(written, hooked, atol=1e-6)
    assert not torch.allclose(written, full, atol=1e-3), "the cached step was a full one"


def test_fast_runs_its_full_steps_compiled_and_matches_deepcache_in_pytorch(
    tiny_sd_dir, monkeypatch
):
    monkeypatch.setattr(speed, "_int8_applies", lambda *a: False)  # compare fp32 with fp32
    eager = pixels(polymodal.generate("a green door", model=tiny_sd_dir, speed="fast", **FAST))
    monkeypatch.setattr(speed, "ONNX_MIN_PARAMETERS", 0)
    onnx.EXPORTS.clear()
    unload(family="diffusion")
    compiled = polymodal.generate("a green door", model=tiny_sd_dir, speed="fast", **FAST)
    shapes = [key for key in load(str(tiny_sd_dir), "diffusion").compiled if hasattr(key, "deep")]
    assert len(onnx.EXPORTS) == 1 and [shape.deep for shape in shapes] == [True]
    unet = resident_unet(tiny_sd_dir)
    deep_runs = []  # counted after the export and its parity check, which run PyTorch
    handle = unet.mid_block.resnets[0].register_forward_hook(lambda *_: deep_runs.append(1))
    try:
        again = polymodal.generate("a green door", model=tiny_sd_dir, speed="fast", **FAST)
    finally:
        handle.remove()
    assert deep_runs == [], "a deep block ran in PyTorch: the full steps were not compiled"
    assert np.array_equal(pixels(again), pixels(compiled))
    assert np.abs(pixels(compiled) - eager).max() <= 2
    unload(family="diffusion")


def test_a_new_export_removes_the_one_it_supersedes(tiny_sd_dir):
    """An upgrade re-exports (the key holds the library versions): the export of the same
    weights and shape under the old versions goes, other models' exports stay."""
    unet = resident_unet(tiny_sd_dir)
    size = int(unet.config.sample_size)
    shape = onnx.Shape(batch=1, height=size, width=size, tokens=77, channels=4, context=16)
    parent = onnx.export_dir(unet, shape).parent
    parent.mkdir(parents=True, exist_ok=True)
    mine = {"shape": vars(shape), "weights": onnx.weights_digest(unet), "versions": "torch1-old"}
    for name, meta in {"old": mine, "other-model": {**mine, "weights": "0123"}}.items():
        (parent / name).mkdir(exist_ok=True)
        (parent / name / "meta.json").write_text(json.dumps(meta))
    assert isinstance(onnx.prepare(unet, shape, threads=1), onnx.OnnxUNet)
    assert not (parent / "old").exists() and (parent / "other-model").exists()
