"""The CLIP encoder equals the reference transformers model, on every backend we offer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal import catalog
from polymodal.errors import BadInputError, DependencyMissingError, ModelUnavailableError
from polymodal.media.image import load_image
from polymodal.vision.backends import onnx as onnx_backend
from polymodal.vision.encoder import load_clip
from polymodal.vision.preprocess import ClipPreprocessor

TEXTS = ["a photo of a cat", "a red car", "the dog", "a blue picture of an astronaut at night"]


@pytest.fixture(scope="module")
def reference(tiny_clip_dir):
    """The plain transformers path: CLIPModel, CLIPProcessor and the tokenizer."""
    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    processor = CLIPImageProcessorPil.from_pretrained(tiny_clip_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_clip_dir)
    return model, processor, tokenizer


def _normalised(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.detach().float().numpy()
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def _reference_images(reference, images) -> np.ndarray:
    model, processor, _ = reference
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        return _normalised(model.get_image_features(pixel_values=pixels).pooler_output)


def _reference_texts(reference, texts) -> np.ndarray:
    model, _, tokenizer = reference
    tokens = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return _normalised(model.get_text_features(**tokens).pooler_output)


@pytest.fixture(scope="module")
def images(photos):
    return [load_image(path) for path in photos.values()]


def test_preprocessing_matches_clip_image_processor(reference, tiny_clip_dir, rng=None):
    _, processor, _ = reference
    ours = ClipPreprocessor.from_pretrained(tiny_clip_dir)
    generator = np.random.default_rng(3)
    samples = [
        Image.fromarray(generator.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for h, w in ((300, 200), (90, 400), (40, 50), (64, 64), (513, 777))
    ]
    expected = processor(images=samples, return_tensors="np")["pixel_values"]
    got = ours(samples)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.max(np.abs(got - expected)) < 1e-5


def test_preprocessor_reads_the_checkpoint_config(tmp_path):
    config = {
        "size": {"shortest_edge": 256},
        "crop_size": {"height": 240, "width": 240},
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.25, 0.25, 0.25],
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    ours = ClipPreprocessor.from_pretrained(tmp_path)
    assert (ours.size, ours.crop_height, ours.crop_width) == (256, 240, 240)
    white = ours([Image.new("RGB", (300, 500), (255, 255, 255))])
    assert white.shape == (1, 3, 240, 240) and np.allclose(white, 2.0)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_embeddings_equal_the_reference_model(tiny_clip_dir, reference, images, backend):
    encoder = catalog.load(str(tiny_clip_dir), "clip", backend=backend)
    assert encoder.backend == backend
    got_images = encoder.encode_images(images)
    got_texts = encoder.encode_texts(TEXTS)
    assert got_images.shape == (len(images), encoder.dim) and got_images.dtype == np.float32
    assert np.allclose(np.linalg.norm(got_images, axis=1), 1, atol=1e-5)
    assert np.abs(got_images - _reference_images(reference, images)).max() < 1e-4
    assert np.abs(got_texts - _reference_texts(reference, TEXTS)).max() < 1e-4


def test_model_facts_match_the_checkpoint(tiny_clip_dir, reference):
    model = reference[0]
    encoder = catalog.load(str(tiny_clip_dir), "clip")
    assert encoder.dim == model.config.projection_dim
    assert encoder.image_size == model.config.vision_config.image_size
    assert encoder.logit_scale == pytest.approx(float(model.logit_scale.detach().exp()), rel=1e-5)
    assert encoder.model_id.startswith("local:") and "+int8" not in encoder.model_id


def test_default_backend_on_cpu_is_onnx_and_exported_once(tiny_clip_dir):
    encoder = catalog.load(str(tiny_clip_dir), "clip")
    assert encoder.backend == "onnx"
    meta_files = list((tiny_clip_dir / "polymodal-onnx").glob("*/meta.json"))
    assert len(meta_files) == 1
    parity = json.loads(meta_files[0].read_text())["fp32"]
    assert parity["ok"] and parity["image_cosine"] >= 0.999 and parity["text_cosine"] >= 0.999


def test_int8_has_its_own_id_and_reasonable_parity(tiny_clip_dir, images, reference):
    fp32 = catalog.load(str(tiny_clip_dir), "clip")
    int8 = catalog.load(str(tiny_clip_dir), "clip", int8=True)
    assert int8.backend == "onnx-int8" and int8.model_id == fp32.model_id + "+int8"
    cosine = np.sum(int8.encode_images(images) * fp32.encode_images(images), axis=1)
    assert cosine.min() > 0.95  # tiny random towers; real ViT-B/32 parity is in bench/vision.py
    text_cosine = np.sum(int8.encode_texts(TEXTS) * fp32.encode_texts(TEXTS), axis=1)
    assert text_cosine.min() > 0.95


def _fresh_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("polymodal-onnx"))
    return target


def test_failed_parity_falls_back_to_torch_with_a_warning(tiny_clip_dir, tmp_path, monkeypatch):
    directory = _fresh_copy(tiny_clip_dir, tmp_path / "model")
    monkeypatch.setattr(onnx_backend, "PARITY_MIN", 1.01)  # no export can pass
    with pytest.warns(RuntimeWarning, match="does not match PyTorch"):
        encoder = load_clip(catalog.resolve(str(directory), "clip"))
    assert encoder.backend == "torch"
    monkeypatch.setattr(onnx_backend, "PARITY_MIN", 0.999)  # the verdict was stored
    with pytest.warns(RuntimeWarning, match="does not match PyTorch"):
        assert load_clip(catalog.resolve(str(directory), "clip")).backend == "torch"


def test_read_only_model_folder_exports_under_the_cache(
    tiny_clip_dir, tmp_path, monkeypatch, polymodal_home
):
    directory = _fresh_copy(tiny_clip_dir, tmp_path / "model")
    monkeypatch.setattr(onnx_backend.os, "access", lambda *args: False)
    encoder = load_clip(catalog.resolve(str(directory), "clip"))
    assert encoder.backend == "onnx"
    assert not (directory / "polymodal-onnx").exists()
    assert list((polymodal_home / "cache" / "onnx").glob("*/*/image.onnx"))


def test_not_a_clip_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelUnavailableError, match="not a CLIP model"):
        load_clip(catalog.resolve(str(tmp_path / "bert"), "clip"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match=r"no config\.json"):
        load_clip(catalog.resolve(str(tmp_path / "empty"), "clip"))
    (tmp_path / "oc").mkdir()
    (tmp_path / "oc" / "open_clip_config.json").write_text("{}")
    with pytest.raises((DependencyMissingError, ModelUnavailableError), match="OpenCLIP"):
        load_clip(catalog.resolve(str(tmp_path / "oc"), "clip"))


def test_bad_options_are_bad_input(tiny_clip_dir):
    resolved = catalog.resolve(str(tiny_clip_dir), "clip")
    with pytest.raises(BadInputError, match="backend"):
        load_clip(resolved, backend="tensorrt")
    with pytest.raises(BadInputError, match="int8"):
        load_clip(resolved, backend="torch", int8=True)
    encoder = catalog.load(str(tiny_clip_dir), "clip")
    with pytest.raises(BadInputError, match="list of texts"):
        encoder.encode_texts("a single string")
    assert encoder.encode_images([]).shape == (0, encoder.dim)


@pytest.mark.parametrize("processor", ["combined", "none"])
def test_input_size_comes_from_processor_config_or_the_model(tmp_path, processor):
    """Bug: a checkpoint saved with transformers 5's ``CLIPProcessor.save_pretrained`` has only
    ``processor_config.json`` (image processor nested), and one with no processor file at all
    fell back to 224 px, so a 32 px model failed ("Input image size (224*224) doesn't match
    model (32*32)"). Both now get the model's own size."""
    from polymodal.vision.synthetic import save_random_clip

    folder = save_random_clip(tmp_path / "clip32", image_size=32, processor=processor)
    assert not (folder / "preprocessor_config.json").exists()
    assert (folder / "processor_config.json").exists() == (processor == "combined")
    ours = ClipPreprocessor.from_pretrained(folder)
    assert (ours.size, ours.crop_height, ours.crop_width) == (32, 32, 32)
    encoder = load_clip(catalog.resolve(str(folder), "clip"), backend="torch")
    vectors = encoder.encode_images([Image.new("RGB", (90, 60), (200, 30, 30))])
    assert vectors.shape == (1, encoder.dim) and encoder.image_size == 32
