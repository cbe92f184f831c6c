"""PNG parameters: A1111's text as A1111 writes it, read back by us and by ``sd-parsers``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import polymodal
from polymodal.diffusion import a1111_text, read_parameters
from polymodal.diffusion.metadata import parse_a1111, save_png
from polymodal.diffusion.results import Parameters
from polymodal.errors import BadInputError

PARAMS = Parameters(
    prompt="a lighthouse at dusk, (golden hour:1.2)",
    negative="blurry, low quality",
    seed=123,
    steps=25,
    guidance=7.0,
    width=512,
    height=768,
    scheduler="DPM++ 2M Karras",
    model="/models/my, model",
    model_name="my, model",
    model_hash="1a2b3c4d5e",
)


def test_the_text_is_a1111s_layout_with_its_quoting():
    assert a1111_text(PARAMS) == (
        "a lighthouse at dusk, (golden hour:1.2)\n"
        "Negative prompt: blurry, low quality\n"
        "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 123, "
        'Size: 512x768, Model hash: 1a2b3c4d5e, Model: "my, model", Polymodal speed: default, '
        "Version: polymodal 0.1.0"
    )
    plain = a1111_text(Parameters(**{**PARAMS.__dict__, "negative": "", "scheduler": "Euler a"}))
    assert "Negative prompt" not in plain and "Sampler: Euler a, CFG scale: 7," in plain


def _png(tmp_path, name="out.png", **chunks) -> str:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    path = tmp_path / name
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_ours_round_trips_exactly(tmp_path):
    path = save_png(tmp_path / "ours.png", Image.new("RGB", (8, 8), "red"), PARAMS)
    info = read_parameters(path)
    assert info.source == "polymodal" and info.parameters == PARAMS
    assert info.extra == {"Version": "polymodal 0.1.0"}
    assert [p.name for p in tmp_path.iterdir()] == ["ours.png"]  # no temporary left behind


def test_sd_parsers_reads_ours(tmp_path):
    from sd_parsers import ParserManager

    # sd-parsers 0.6 splits settings at every comma, ignoring A1111's quotes: a plain name here.
    params = Parameters(**{**PARAMS.__dict__, "model_name": "my-model"})
    path = save_png(tmp_path / "ours.png", Image.new("RGB", (8, 8)), params)
    found = ParserManager().parse(path)
    assert found is not None and found.generator.name == "AUTOMATIC1111"
    assert [p.value for p in found.prompts] == [PARAMS.prompt]
    assert [p.value for p in found.negative_prompts] == [PARAMS.negative]
    (sampler,) = found.samplers
    assert sampler.name == "DPM++ 2M"
    assert sampler.parameters["seed"] == "123" and sampler.parameters["steps"] == "25"
    assert sampler.parameters["cfg_scale"] == "7"
    assert sampler.model.name == "my-model" and sampler.model.hash == "1a2b3c4d5e"


def test_an_a1111_file_is_read(tmp_path):
    text = (
        "masterpiece, a cat\non a sofa\nNegative prompt: lowres\n"
        "Steps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: 42, Size: 640x512, "
        "Model hash: abcdef1234, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, "
        'Lora hashes: "detail: 0123456789ab", Version: v1.9.4'
    )
    info = read_parameters(_png(tmp_path, parameters=text))
    p = info.parameters
    assert info.source == "a1111"
    assert (p.prompt, p.negative) == ("masterpiece, a cat\non a sofa", "lowres")
    assert (p.steps, p.scheduler, p.guidance, p.seed) == (30, "Euler a", 6.5, 42)
    assert (p.width, p.height, p.model_name, p.model_hash) == (
        640,
        512,
        "v1-5-pruned-emaonly",
        "abcdef1234",
    )
    assert p.mode == "img2img" and p.strength == 0.45
    assert info.extra == {"Lora hashes": "detail: 0123456789ab", "Version": "v1.9.4"}
    old_style = parse_a1111("a cat\nSteps: 20, Sampler: DPM++ 2M Karras, Seed: 1, Size: 64x64")
    assert old_style[2]["Sampler"] == "DPM++ 2M Karras"


def test_a_comfyui_graph_is_read(tmp_path):
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 99, "steps": 20, "cfg": 8.0, "sampler_name": "dpmpp_2m",
                "scheduler": "karras", "denoise": 1.0, "model": ["4", 0],
                "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["4", 1]}},
    }  # fmt: skip
    path = _png(tmp_path, prompt=json.dumps(graph), workflow=json.dumps({"nodes": []}))
    info = read_parameters(path)
    p = info.parameters
    assert info.source == "comfyui"
    assert (p.prompt, p.negative, p.seed, p.steps, p.guidance) == ("a fox", "watermark", 99, 20, 8)
    assert (p.scheduler, p.width, p.height) == ("DPM++ 2M Karras", 1024, 768)
    assert p.model_name == "sd_xl_base_1.0" and p.mode == "txt2img"


def test_files_without_parameters_get_a_sentence(tmp_path):
    with pytest.raises(BadInputError, match="carries no generation parameters"):
        read_parameters(_png(tmp_path))
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(BadInputError, match="is not an image"):
        read_parameters(text)


def test_a_generated_image_saves_and_reads_back(tiny_sd_dir, tmp_path):
    result = polymodal.generate("a red house", seed=9, steps=2, width=64, height=64,
                                model=tiny_sd_dir)  # fmt: skip
    saved = polymodal.save_images(result, tmp_path / "out.png")
    path = saved.images[0].path
    assert path == (tmp_path / "out.png").resolve()
    assert polymodal.read_parameters(path).parameters == result.images[0].parameters
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(result.images[0].image))
