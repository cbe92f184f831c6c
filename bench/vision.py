"""Benchmark: CLIP image embedding, plain transformers vs polymodal, measured in one run.

What a user waits for is end-to-end: camera JPEGs in, embeddings out. The plain path (PIL open,
``CLIPProcessor``, ``get_image_features`` in batches of 32) is timed against ``embed_images`` with
the cache off (default fp32, then int8; best of alternating rounds), on a real-size ViT-B/32
built from ``CLIPConfig()`` with random weights (the trained model's FLOPs) saved to disk and
loaded through the catalogue.
Model-only throughput is also reported, each figure as a fraction of the fp32 matmul GFLOP/s
measured in the same run. Prints one JSON object: ``baseline``, ``ours``, ``ratio`` and more.

    .venv/bin/python bench/vision.py            # 200 images (the issue's benchmark)
    .venv/bin/python bench/vision.py --quick    # 48 images, fewer repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXTS = [f"a photo of a {w} on a sunny day" for w in ("cat", "dog", "car", "red truck")] * 8


def make_jpegs(folder: Path, count: int, size: tuple[int, int], quality: int) -> list[Path]:
    """Camera-like JPEGs from scikit-image photos, upscaled with per-image noise (cached)."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.cat()]
    sources += [np.stack([data.camera()] * 3, axis=-1), data.immunohistochemistry()]
    paths = []
    for index in range(count):
        path = folder / f"photo_{index:04d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(index)
        base = Image.fromarray(sources[index % len(sources)]).resize(size, Image.Resampling.BICUBIC)
        noisy = np.asarray(base, dtype=np.int16) + rng.integers(-12, 13, (size[1], size[0], 3))
        tmp = path.with_suffix(".tmp")
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(tmp, "JPEG", quality=quality)
        os.replace(tmp, path)
    return paths


def matmul_gflops(repeats: int) -> float:
    """fp32 matmul throughput of this machine now (torch, 1024^3, best of ``repeats``, like
    every rate here: on a shared machine the best run is the least disturbed one)."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * 1024**3 / best / 1e9


def vision_gflop(config) -> float:
    """Forward FLOPs of one image through a CLIP vision tower and projection."""
    v = config.vision_config
    tokens = (v.image_size // v.patch_size) ** 2 + 1
    per_layer = 2 * tokens * (4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size)
    attention = 4 * tokens * tokens * v.hidden_size
    patches = 2 * (tokens - 1) * 3 * v.patch_size**2 * v.hidden_size
    projection = 2 * v.hidden_size * config.projection_dim
    return (v.num_hidden_layers * (per_layer + attention) + patches + projection) / 1e9


def text_gflop(config, length: int) -> float:
    """Forward FLOPs of one text of ``length`` tokens through the text tower."""
    t = config.text_config
    per_layer = 2 * length * (4 * t.hidden_size**2 + 2 * t.hidden_size * t.intermediate_size)
    return (t.num_hidden_layers * (per_layer + 4 * length * length * t.hidden_size)) / 1e9


def rate(function, items: int, repeats: int) -> float:
    """Items per second: best of ``repeats`` timed calls after one warm-up call."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return items / best


def plain_end_to_end(paths, model, processor, batch: int = 32) -> tuple[float, np.ndarray]:
    """The plain transformers path: PIL open, CLIPProcessor, get_image_features."""
    import torch
    from PIL import Image

    start = time.perf_counter()
    out = []
    for i in range(0, len(paths), batch):
        images = [Image.open(p).convert("RGB") for p in paths[i : i + batch]]
        inputs = processor(images=images, return_tensors="pt")
        with torch.no_grad():
            features = model.get_image_features(pixel_values=inputs["pixel_values"])
        out.append(features.pooler_output.numpy())
    elapsed = time.perf_counter() - start
    vectors = np.concatenate(out)
    return len(paths) / elapsed, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def ours_end_to_end(paths, model_dir: Path, int8: bool) -> tuple[float, np.ndarray]:
    from polymodal.vision import embed_images

    start = time.perf_counter()
    result = embed_images(paths, model=str(model_dir), cache=False, int8=int8)
    elapsed = time.perf_counter() - start
    assert not result.failures, result.failures
    return len(paths) / elapsed, result.vectors


def end_to_end_rounds(paths, model, processor, model_dir: Path, args) -> tuple[dict, dict]:
    """Images/s of each path, best of ``args.rounds`` rounds taken in turn (plain, ours, int8).

    Alternating rounds spread this shared machine's slow spells over every side instead of
    letting one of them land on a single path.
    """
    runners = {
        "plain": lambda: plain_end_to_end(paths, model, processor),
        "ours_default": lambda: ours_end_to_end(paths, model_dir, int8=False),
    }
    if not args.no_int8:
        runners["ours_int8"] = lambda: ours_end_to_end(paths, model_dir, int8=True)
    rates: dict[str, list[float]] = {name: [] for name in runners}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, run in runners.items():
            speed, vectors[name] = run()
            rates[name].append(speed)
    best = {name: max(values) for name, values in rates.items()}
    best["rounds"] = {name: [round(v, 3) for v in values] for name, values in rates.items()}
    return best, vectors


def cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    values = np.sum(a * b, axis=1)
    return {"min": round(float(values.min()), 5), "mean": round(float(values.mean()), 5)}


def model_only(model, encoder_fp32, encoder_int8, config, repeats: int) -> dict:
    """Images/s at batch 1 and 32 and texts/s at batch 32, plain eager vs ours."""
    import torch

    rng = np.random.default_rng(0)
    size = config.vision_config.image_size
    pixels = rng.standard_normal((32, 3, size, size)).astype(np.float32)
    tensor = torch.from_numpy(pixels)
    processor_tokens = encoder_fp32.tokenize(TEXTS)

    def plain_images(n):
        def run():
            with torch.no_grad():
                model.get_image_features(pixel_values=tensor[:n])

        return run

    def plain_texts():
        with torch.no_grad():
            model.get_text_features(
                input_ids=torch.from_numpy(processor_tokens[0]),
                attention_mask=torch.from_numpy(processor_tokens[1]),
            )

    result = {}
    engines = {"plain_fp32": None, "ours_default": encoder_fp32, "ours_int8": encoder_int8}
    for name, encoder in engines.items():
        if name != "plain_fp32" and encoder is None:
            continue
        if encoder is None:
            b1, b32, texts = plain_images(1), plain_images(32), plain_texts
        else:
            b1 = (lambda e: lambda: e.encode_pixels(pixels[:1]))(encoder)
            b32 = (lambda e: lambda: e.encode_pixels(pixels))(encoder)
            texts = (lambda e: lambda: e.encode_texts(TEXTS))(encoder)
        result[name] = {
            "images_per_s_batch1": rate(b1, 1, repeats * 4),
            "images_per_s_batch32": rate(b32, 32, repeats),
            "texts_per_s_batch32": rate(texts, 32, repeats * 2),
        }
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200, help="camera JPEGs to embed")
    parser.add_argument("--quick", action="store_true", help="48 images, fewer repetitions")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (model only)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating end-to-end rounds")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 path")
    parser.add_argument("--min-cosine", type=float, default=0.99)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pm-bench")
    args = parser.parse_args(argv)
    count = 48 if args.quick and args.images == 200 else args.images
    repeats = 2 if args.quick else args.repeats
    os.environ.setdefault("POLYMODAL_HOME", str(args.workdir / "home"))

    import torch
    from transformers import CLIPModel, CLIPProcessor

    from polymodal.vision import get_encoder
    from polymodal.vision.synthetic import save_random_clip

    model_dir = args.workdir / "clip-vit-b32-random"
    if not (model_dir / "config.json").exists():
        save_random_clip(model_dir, tiny=False, seed=0)
    paths = make_jpegs(args.workdir / "jpegs-4000x3000-q90", count, (4000, 3000), 90)
    start = time.perf_counter()
    encoder = get_encoder(str(model_dir), int8=False)
    encoder_int8 = None if args.no_int8 else get_encoder(str(model_dir), int8=True)
    load_s = time.perf_counter() - start
    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    processor = CLIPProcessor.from_pretrained(model_dir)

    gflops_before = matmul_gflops(20)
    e2e, vectors = end_to_end_rounds(paths, model, processor, model_dir, args)
    parity = {"ours_default_vs_plain": cosine(vectors["ours_default"], vectors["plain"])}
    if encoder_int8 is not None:
        parity["ours_int8_vs_plain"] = cosine(vectors["ours_int8"], vectors["plain"])
        parity["ours_int8_vs_ours_fp32"] = cosine(vectors["ours_int8"], vectors["ours_default"])
    only = model_only(model, encoder, encoder_int8, model.config, repeats)
    gflops = max(gflops_before, matmul_gflops(20))
    image_gflop = vision_gflop(model.config)
    text_gflop_each = text_gflop(model.config, encoder.tokenize(TEXTS)[0].shape[1])
    for figures in only.values():
        figures["fraction_of_matmul_batch1"] = figures["images_per_s_batch1"] * image_gflop / gflops
        figures["fraction_of_matmul_batch32"] = (
            figures["images_per_s_batch32"] * image_gflop / gflops
        )
        figures["fraction_of_matmul_texts"] = (
            figures["texts_per_s_batch32"] * text_gflop_each / gflops
        )
    plain_only = only["plain_fp32"]
    ratio = e2e["ours_default"] / e2e["plain"]
    result = {
        "benchmark": "clip-vit-b32 image embedding, 4000x3000 q90 JPEGs, cache off",
        "images": count,
        "baseline": {"end_to_end_images_per_s": e2e["plain"], "model_only": plain_only},
        "end_to_end_rounds": e2e["rounds"],
        "ours": {
            "end_to_end_images_per_s": e2e["ours_default"],
            "model_only": only["ours_default"],
            "backend": encoder.backend,
        },
        "ratio": ratio,
        "parity_cosine": parity,
        "machine": {
            "cpus": os.cpu_count(),
            "matmul_fp32_gflops": gflops,
            "vision_gflop_per_image": image_gflop,
            "text_gflop_per_text": text_gflop_each,
            "torch_threads": torch.get_num_threads(),
        },
        "load_and_export_s": load_s,
    }
    ours_only = only["ours_default"]
    goals = {
        "end_to_end_default_3.5x": ratio >= 3.5,
        "default_parity_ge_min_cosine": parity["ours_default_vs_plain"]["min"] >= args.min_cosine,
        "model_only_default_batch1_1.4x": ours_only["images_per_s_batch1"]
        >= 1.4 * plain_only["images_per_s_batch1"],
    }
    if encoder_int8 is not None:
        int8_only = only["ours_int8"]
        result["ours_int8"] = {
            "end_to_end_images_per_s": e2e["ours_int8"],
            "model_only": int8_only,
            "parity_with_fp32_sample": getattr(encoder_int8, "parity", None),
        }
        result["ratio_int8"] = e2e["ours_int8"] / e2e["plain"]
        goals["end_to_end_int8_4.5x"] = result["ratio_int8"] >= 4.5
        goals["model_only_int8_batch32_1.8x"] = (
            int8_only["images_per_s_batch32"] >= 1.8 * plain_only["images_per_s_batch32"]
        )
    result["goals_met"] = goals
    return result


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_rounded(main()), indent=2) + "\n")
