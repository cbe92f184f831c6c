"""The fast preset's int8 Linear layers on the tiny pipeline: used, reproducible, checked."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import polymodal
from polymodal.catalog import load, unload
from polymodal.diffusion import speed
from polymodal.diffusion.backends import int8

FAST = {"steps": 6, "width": 64, "height": 64, "seed": 21, "speed": "fast"}


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image.convert("RGB"), dtype=np.int16)


def unet_of(tiny_sd_dir):
    return load(str(tiny_sd_dir), "diffusion").pipe.unet


def quantized_calls(tiny_sd_dir) -> tuple[list[int], list]:
    """Forward hooks on every int8 layer made for the resident UNet so far."""
    model = load(str(tiny_sd_dir), "diffusion")
    layers = [
        q
        for w in model.compiled.values()
        if isinstance(w, int8.Int8UNet)
        for _, q in w.layers.values()
    ]
    calls: list[int] = []
    return calls, [q.register_forward_hook(lambda *_: calls.append(1)) for q in layers]


def without_int8(monkeypatch):
    monkeypatch.setattr(speed, "_int8_applies", lambda options, device, notes: False)


@pytest.fixture(autouse=True)
def _fresh_model():
    int8.CHECKS.clear()
    unload(family="diffusion")
    yield
    unload(family="diffusion")


def test_fast_runs_linear_layers_in_int8_checked_once_and_reproduces(tiny_sd_dir, monkeypatch):
    first = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    assert len(int8.CHECKS) == 1, "the first fast request checks int8 against fp32"
    verdict = int8.json.loads(int8.CHECKS[0].read_text())
    assert verdict["ok"] and verdict["cosine"] >= int8.QUALITY_MIN
    calls, handles = quantized_calls(tiny_sd_dir)
    try:
        again = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    finally:
        for handle in handles:
            handle.remove()
    assert calls, "no int8 layer ran"
    assert len(int8.CHECKS) == 1, "the stored verdict was not reused"
    assert np.array_equal(pixels(first), pixels(again)), "the checked request differs"
    unload(family="diffusion")  # a fresh process's view: only the verdict on disk is left
    fresh = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    assert len(int8.CHECKS) == 1 and np.array_equal(pixels(first), pixels(fresh))
    linears = [m for m in unet_of(tiny_sd_dir).modules() if "Linear" in type(m).__name__]
    assert linears and all(type(m) is torch.nn.Linear for m in linears), "int8 stayed in"
    without_int8(monkeypatch)
    fp32 = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST))
    other_seed = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **{**FAST, "seed": 22}))
    change = np.abs(pixels(first) - fp32).mean()
    assert change > 0, "the int8 layers changed nothing: were they used?"
    assert change < np.abs(other_seed - fp32).mean() / 4, "int8 changed the image too much"


def test_int8_leaves_the_default_preset_exact(tiny_sd_dir):
    default = pixels(polymodal.generate("a dog", model=tiny_sd_dir, **{**FAST, "speed": "default"}))
    polymodal.generate("a dog", model=tiny_sd_dir, **FAST)
    after = pixels(polymodal.generate("a dog", model=tiny_sd_dir, **{**FAST, "speed": "default"}))
    assert np.array_equal(default, after)


def test_int8_failing_its_check_falls_back_to_fp32_with_a_warning(tiny_sd_dir, monkeypatch):
    with monkeypatch.context() as patch:
        without_int8(patch)
        fp32 = pixels(polymodal.generate("a blue house", model=tiny_sd_dir, **FAST))
    real = int8._quantize

    def broken(linear):
        wrong = copy.deepcopy(linear)
        with torch.no_grad():
            wrong.weight.mul_(-1.0)
        return real(wrong)

    monkeypatch.setattr(int8, "_quantize", broken)
    unload(family="diffusion")
    with pytest.warns(RuntimeWarning, match="differs from fp32"):
        result = polymodal.generate("a blue house", model=tiny_sd_dir, **FAST)
    assert any("running it in fp32" in note for note in result.images[0].notes)
    assert np.array_equal(pixels(result), fp32), "the fallback is not the fp32 image"
    unload(family="diffusion")
    with pytest.warns(RuntimeWarning, match="differs from fp32"):
        again = polymodal.generate("a blue house", model=tiny_sd_dir, **FAST)
    assert len(int8.CHECKS) == 1, "a failed check was retried instead of remembered"
    assert np.array_equal(pixels(again), fp32)


def test_int8_is_for_the_cpu_and_off_under_a_lora():
    from types import SimpleNamespace

    notes: list[str] = []
    plain = SimpleNamespace(loras=())
    assert speed._int8_applies(plain, "cpu", notes) and not notes
    assert not speed._int8_applies(plain, "cuda", notes)
    lora = SimpleNamespace(loras=(SimpleNamespace(scale=0.8),))
    assert not speed._int8_applies(lora, "cpu", notes) and "LoRA" in notes[0]


def test_int8_after_a_lora_request_runs_inside_the_lora_wrappers(tiny_sd_dir, tmp_path):
    from test_lora import _make_lora

    plain = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST))
    unload(family="diffusion")
    lora = _make_lora(tmp_path, seed=1)
    with_lora = polymodal.generate("a cat", model=tiny_sd_dir, loras=[f"{lora}:1"], **FAST)
    assert any("int8 is off with a LoRA" in note for note in with_lora.images[0].notes)
    after = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST))
    assert np.array_equal(after, plain), "int8 behind the disabled LoRA gave another image"
