"""LoRAs made here with peft: scale 1 changes the image, scale 0 and no LoRA do not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import polymodal
from polymodal.cli import _register, app
from polymodal.errors import BadInputError

FAST = {"steps": 3, "width": 64, "height": 64, "seed": 21}


def _make_lora(folder, seed: int):
    """A random (non-zero) LoRA on the tiny UNet's attention, saved as diffusers saves one."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict
    from tiny_pipelines import build_tiny_pipeline

    pipe = build_tiny_pipeline()
    torch.manual_seed(seed)
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets,
                                     init_lora_weights=False))  # fmt: skip
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(pipe.unet), safe_serialization=True
    )
    return folder / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    return [_make_lora(tmp_path_factory.mktemp(f"lora{i}"), seed=i) for i in (1, 2)]


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image, dtype=np.int16)


def test_scale_one_changes_the_output_scale_zero_and_none_do_not(tiny_sd_dir, loras):
    base = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST))
    on = polymodal.generate("a cat", model=tiny_sd_dir, loras=[f"{loras[0]}:1"], **FAST)
    assert np.abs(pixels(on) - base).mean() > 1
    (recorded,) = on.images[0].parameters.loras
    assert recorded.path == str(loras[0].resolve()) and recorded.scale == 1.0
    assert len(recorded.hash) == 12
    off = polymodal.generate("a cat", model=tiny_sd_dir, loras=[f"{loras[0]}:0"], **FAST)
    assert np.array_equal(pixels(off), base)
    again = polymodal.generate("a cat", model=tiny_sd_dir, **FAST)
    assert np.array_equal(pixels(again), base), "a LoRA stayed active after its request"


def _make_kohya_lora(path, seed: int, rank: int = 4):
    """A LoRA in Kohya's (and A1111's) own layout for the tiny model: ``lora_unet_<module
    path with _>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha`` on the UNet's attention
    projections, and ``lora_te_...`` on the text encoder's, as kohya-ss/sd-scripts saves."""
    import torch
    from safetensors.torch import save_file
    from tiny_pipelines import build_tiny_pipeline

    pipe = build_tiny_pipeline()
    generator = torch.Generator().manual_seed(seed)
    targets = {"unet": ("to_q", "to_k", "to_v", "to_out.0"),
               "te": ("q_proj", "k_proj", "v_proj", "out_proj")}  # fmt: skip
    state: dict[str, torch.Tensor] = {}
    for prefix, model in (("lora_unet", pipe.unet), ("lora_te", pipe.text_encoder)):
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear) or not name.endswith(targets[prefix[5:]]):
                continue
            key = f"{prefix}_{name.replace('.', '_')}"
            down = torch.randn(rank, module.in_features, generator=generator) * 0.3
            state[f"{key}.lora_down.weight"] = down
            state[f"{key}.lora_up.weight"] = torch.randn(module.out_features, rank,
                                                         generator=generator) * 0.3  # fmt: skip
            state[f"{key}.alpha"] = torch.tensor(float(rank))
    assert any(k.startswith("lora_te_") for k in state) and len(state) > 24
    save_file(state, path, metadata={"ss_network_module": "networks.lora"})
    return path


def test_a_kohya_format_lora_changes_the_output_at_1_and_not_at_0(tiny_sd_dir, tmp_path):
    kohya = _make_kohya_lora(tmp_path / "kohya-style.safetensors", seed=3)
    base = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST))
    on = polymodal.generate("a cat", model=tiny_sd_dir, loras=[f"{kohya}:1"], **FAST)
    assert np.abs(pixels(on) - base).mean() > 1, "the Kohya LoRA changed nothing"
    half = polymodal.generate("a cat", model=tiny_sd_dir, loras=[f"{kohya}:0.5"], **FAST)
    assert not np.array_equal(pixels(half), pixels(on))
    off = polymodal.generate("a cat", model=tiny_sd_dir, loras=[f"{kohya}:0"], **FAST)
    assert np.array_equal(pixels(off), base)
    assert np.array_equal(pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST)), base)


def test_several_loras_at_once(tiny_sd_dir, loras):
    one = pixels(polymodal.generate("a cat", model=tiny_sd_dir, loras=[str(loras[0])], **FAST))
    both = polymodal.generate(
        "a cat", model=tiny_sd_dir, loras=[str(loras[0]), f"{loras[1]}:0.5"], **FAST
    )
    assert [w.scale for w in both.images[0].parameters.loras] == [1.0, 0.5]
    assert not np.array_equal(pixels(both), one)


def test_a_file_that_is_not_a_lora_gets_a_sentence(tiny_sd_dir, tiny_sd_file, tmp_path):
    base = pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST))
    with pytest.raises(BadInputError, match="is not a LoRA this model can use"):
        polymodal.generate("a cat", model=tiny_sd_dir, loras=[str(tiny_sd_file)], **FAST)
    assert np.array_equal(pixels(polymodal.generate("a cat", model=tiny_sd_dir, **FAST)), base)
    with pytest.raises(BadInputError, match="no such LoRA file"):
        polymodal.generate("a cat", model=tiny_sd_dir, loras=[str(tmp_path / "x.safetensors")])
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    with pytest.raises(BadInputError, match="is not a LoRA file"):
        polymodal.generate("a cat", model=tiny_sd_dir, loras=[str(text)])
    with pytest.raises(BadInputError, match="is not a number"):
        polymodal.parse_lora("a.safetensors:strong")


def test_parse_lora():
    assert polymodal.parse_lora("a.safetensors") == polymodal.LoraWeight("a.safetensors", 1.0)
    assert polymodal.parse_lora("/x/a.safetensors:0.7").scale == 0.7


def test_lora_from_the_shell_is_recorded_and_reapplied(tiny_sd_dir, loras, tmp_path):
    _register()
    runner = CliRunner()
    out, redo = tmp_path / "lora.png", tmp_path / "redo.png"
    args = ["generate", "a cat", "--seed", "5", "--steps", "2", "--size", "64x64",
            "--lora", f"{loras[0]}:0.8", "--model", str(tiny_sd_dir), "-o", str(out)]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    info = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert info["parameters"]["loras"][0]["scale"] == 0.8
    assert 'Lora hashes: "pytorch_lora_weights: ' in info["raw"]
    assert runner.invoke(app, ["generate", "--from", str(out), "-o", str(redo)]).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(redo)))


def test_a_few_step_lora_brings_its_sampler_steps_and_guidance(tiny_sd_dir, loras, tmp_path):
    import shutil

    lcm = shutil.copy(loras[0], tmp_path / "lcm-lora-sdv1-5.safetensors")
    made = polymodal.generate("a cat", model=tiny_sd_dir, loras=[str(lcm)], seed=1,
                              width=64, height=64)  # fmt: skip
    p = made.images[0].parameters
    assert (p.scheduler, p.steps, p.guidance) == ("LCM", 6, 1.0)
    assert made.images[0].timings.steps == 6
    assert "LCM-LoRA recognised" in made.images[0].notes[0]
    hyper = shutil.copy(loras[0], tmp_path / "Hyper-SD15-2steps-lora.safetensors")
    chosen = polymodal.generate("a cat", model=tiny_sd_dir, loras=[str(hyper)], steps=3,
                                seed=1, width=64, height=64)  # fmt: skip
    p = chosen.images[0].parameters
    assert (p.scheduler, p.steps, p.guidance) == ("DPM++ 2M Karras", 3, 7.0)  # the user's
    assert polymodal.parse_lora(f"{hyper}:1") and not chosen.images[0].notes
    from polymodal.diffusion.lora import few_step_profile

    assert few_step_profile([polymodal.LoraWeight(str(hyper))]).steps == 2
    assert few_step_profile([polymodal.LoraWeight(str(hyper), scale=0)]) is None
