"""What bench/diffusion.py times, piece by piece: the real-size SD 1.5 pipeline built from
``sd15_configs.json`` with random weights, text encoding, UNet steps (wall and CPU seconds),
a full run's latents, the VAE decode, and how they add up to seconds per image."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

CONFIGS = Path(__file__).with_name("sd15_configs.json")


def build_pipeline():
    """StableDiffusionPipeline of SD 1.5's real size with random weights (seeded)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    configs = json.loads(CONFIGS.read_text())
    torch.manual_seed(0)
    return StableDiffusionPipeline(
        vae=AutoencoderKL(**configs["vae"]).eval(),
        text_encoder=CLIPTextModel(CLIPTextConfig(**configs["text_encoder"])).eval(),
        tokenizer=None,
        unet=UNet2DConditionModel(**configs["unet"]).eval(),
        scheduler=PNDMScheduler.from_config(configs["scheduler"]),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def text_encoding(pipe) -> tuple[float, dict]:
    """Seconds to encode a prompt and a negative prompt (77 tokens each), and the embeddings."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 49408, (2, 1, 77), generator=generator)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            started = time.perf_counter()
            states = [pipe.text_encoder(row)[0] for row in ids]
            times.append(time.perf_counter() - started)
    embeds = {"prompt_embeds": states[0], "negative_prompt_embeds": states[1]}
    return min(times), embeds


def time_steps(pipe, embeds, *, steps, measure, size, guidance, seed=0):
    """Per-step seconds of ``measure`` steps after one warm-up (the run is interrupted then),
    and the latents at that point. ``CPU_STEPS`` gets the same steps' process CPU seconds
    (all threads): on a shared machine the work done, which other processes' load barely
    changes, where wall time follows the scheduler."""
    stamps: list[float] = []
    cpu: list[float] = []

    def on_step(p, index, timestep, kwargs):
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
        if len(stamps) > measure + 1:  # the start, the warm-up step, then ``measure`` steps
            p._interrupt = True
        return kwargs

    stamps.append(time.perf_counter())
    cpu.append(time.process_time())
    latents = full_run(
        pipe, embeds, steps=steps, size=size, guidance=guidance, seed=seed, on_step=on_step
    )
    durations = [b - a for a, b in itertools.pairwise(stamps[1:])]  # drop the warm-up
    CPU_STEPS.append([b - a for a, b in itertools.pairwise(cpu[1:])])
    return durations, latents


CPU_STEPS: list[list[float]] = []


def full_run(pipe, embeds, *, steps, size, guidance, seed=0, on_step=None):
    """The final latents of a run (for the fast-vs-default cosine), or where ``on_step``
    interrupted it."""
    import torch

    with torch.inference_mode():
        return pipe(
            **embeds,
            num_inference_steps=steps,
            guidance_scale=guidance,
            width=size,
            height=size,
            generator=torch.Generator().manual_seed(seed),
            output_type="latent",
            callback_on_step_end=on_step,
        ).images


def decode_seconds(vae, latents) -> float:
    import torch

    scale = getattr(vae.config, "scaling_factor", 1.0)
    with torch.inference_mode():
        started = time.perf_counter()
        vae.decode(latents / scale)
        return time.perf_counter() - started


def cosine(a, b) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm()))


def per_image(text_s, step_s, steps, decode_s) -> float:
    return text_s + step_s * steps + decode_s
