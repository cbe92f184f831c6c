"""Benchmark: Stable Diffusion 1.5 text-to-image on this CPU, plain diffusers vs polymodal.

Real-size SD 1.5 (UNet, VAE, CLIP text encoder built from ``sd15_configs.json`` with random
weights: the trained model's FLOPs, no hub) at 512x512 with guidance, in one run:

* ``baseline``: plain ``StableDiffusionPipeline`` defaults (fp32 eager, PNDM, 50 steps, 7.5);
* ``ours``: ``polymodal.generate``'s defaults (DPM++ 2M Karras, 25 steps, guidance 7) with
  ``--speed default``, through polymodal's own pipeline and speed code;
* ``fast``: ``--speed fast`` (DeepCache every 3 steps, its full steps compiled like the
  default's UNet; the tiny VAE timed with random TAESD weights, as when its weights are
  present, and the full VAE as when they are not).

Seconds per step are measured on a few steps after one warm-up step (the fastest of them: on
a shared machine the least disturbed) and multiplied by the step count, as stated in the
output. The machine's load drifts, so the baseline, ``fast`` and ``default`` are measured in
alternating rounds (``--rounds``), and each ratio is the median of the rounds' paired ratios
(each round's baseline against the ``fast`` and ``default`` measured right after it). The
VAE decode and the text encoding (prompt and negative, 77 tokens each) are measured once.
``parity`` is the cosine of our noise prediction with eager PyTorch's on the same input;
``fast``'s
``latent_cosine_vs_default`` compares the final latents of complete ``fast`` and ``default``
runs from the same seed (random weights: a stress test, not an image-quality figure), with
int8 and without it. ``--fast-fp32`` also measures ``fast`` without int8 in every round;
``unet_cpu_ratio`` compares the UNet's process CPU seconds (the work, which load barely
changes) where wall times are too noisy. Prints one JSON object.

    .venv/bin/python bench/diffusion.py            # 512x512 (the issue's benchmark)
    .venv/bin/python bench/diffusion.py --quick    # 256x256, two measured steps
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _diffusion_steps import (  # bench/_diffusion_steps.py, beside this file
    CPU_STEPS,
    build_pipeline,
    cosine,
    decode_seconds,
    full_run,
    per_image,
    text_encoding,
    time_steps,
)

GOALS = {"image_ratio": 2.5, "step_ratio": 1.3, "fast_ratio": 6.0, "parity": 0.999}


def measure_ours(
    pipe, embeds, args, speed: str, tiny_dir: Path | None = None, interval=0, int8=True
):
    """Our pipeline and speed plan for ``speed`` (``int8=False``: without int8 layers):
    (record, job pipe, accelerator, latents)."""
    from dataclasses import replace

    import polymodal.diffusion.speed as speed_mod
    from polymodal.diffusion.options import DEFAULT_GUIDANCE, DEFAULT_STEPS, GenerateOptions
    from polymodal.diffusion.pipelines import DiffusionModel
    from polymodal.diffusion.schedulers import DEFAULT_SCHEDULER, scheduler_spec

    model = DiffusionModel(pipe, name="sd15-random", weights=Path("/nonexistent"))
    options = GenerateOptions(prompt="bench", width=args.size, height=args.size, speed=speed)
    plan = speed_mod.plan(model, options, (args.size, args.size), "cpu")
    if tiny_dir is not None:
        plan = replace(plan, tiny_vae=tiny_dir, notes=())
    if interval:
        plan = replace(plan, deepcache=interval)
    plan = replace(plan, int8=plan.int8 and int8)
    accelerator = speed_mod.Accelerator(model, plan)
    job = model.pipeline("txt2img", scheduler_spec(DEFAULT_SCHEDULER))
    call = {"height": args.size, "width": args.size, **embeds}
    started = time.perf_counter()
    with accelerator.image(job, call, guidance=True):
        compile_s = time.perf_counter() - started
        durations, latents = time_steps(
            job,
            embeds,
            steps=DEFAULT_STEPS,
            measure=2 * plan.deepcache if plan.deepcache else args.measure,
            size=args.size,
            guidance=DEFAULT_GUIDANCE,
        )
    record = {
        "speed": speed,
        "scheduler": DEFAULT_SCHEDULER,
        "steps": DEFAULT_STEPS,
        "plan": {
            "unet": plan.unet,
            "deepcache": plan.deepcache,
            "int8": plan.int8,
            "tiny_vae": bool(plan.tiny_vae),
        },
        "notes": accelerator.notes,
        "prepare_s_once": compile_s,
        "measured_step_s": durations,
        "measured_step_cpu_s": CPU_STEPS[-1],
    }
    return record, job, accelerator, latents


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="256x256, 2 measured steps")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--measure", type=int, default=None, help="steps measured per path")
    parser.add_argument("--cosine-size", type=int, default=None, help="size of the full runs")
    parser.add_argument("--no-fast", action="store_true")
    parser.add_argument("--no-default", action="store_true", help="skip --speed default")
    parser.add_argument("--fast-fp32", action="store_true", help="also fast without int8")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/fast rounds, paired")
    parser.add_argument(
        "--intervals", type=int, nargs="+", default=[3], help="DeepCache intervals (first: fast)"
    )
    args = parser.parse_args(argv)
    args.size = args.size or (256 if args.quick else 512)
    args.measure = args.measure or (2 if args.quick else 3)
    args.cosine_size = args.cosine_size or args.size

    import torch

    result: dict = {"size": f"{args.size}x{args.size}", "load_before": _load()}
    pipe = build_pipeline()
    pipe.set_progress_bar_config(disable=True)
    text_s, embeds = text_encoding(pipe)

    rounds = []
    for index in range(args.rounds):  # baseline, then fast right after it: paired
        entry = {"load": _load()}
        entry["baseline_step_s"], latents = time_steps(
            pipe, embeds, steps=50, measure=args.measure, size=args.size, guidance=7.5
        )
        entry["baseline_step_cpu_s"] = CPU_STEPS[-1]
        if index == 0:
            decode_s = decode_seconds(pipe.vae, latents)
        if not args.no_fast:
            entry["fast"] = {i: _fast_round(pipe, embeds, args, i) for i in args.intervals}
        if args.fast_fp32:  # the same preset without int8, in the same round
            entry["fast_fp32"] = _fast_round(pipe, embeds, args, args.intervals[0], int8=False)
        if not args.no_default:  # our default right after the same baseline: paired too
            # Only the last round's compiled UNet is kept (for the parity check): each holds
            # a copy of the weights.
            entry["default"], *last_default = measure_ours(pipe, embeds, args, "default")
        rounds.append(entry)
    base_steps = [min(entry["baseline_step_s"]) for entry in rounds]
    base_step = min(base_steps)
    result["baseline"] = {
        "scheduler": "PNDM (diffusers default)",
        "steps": 50,
        "step_s": base_step,
        "measured_step_s": [entry["baseline_step_s"] for entry in rounds],
        "text_s": text_s,
        "decode_s": decode_s,
        "image_s": per_image(text_s, base_step, 50, decode_s),
    }

    if not args.no_default:
        result |= _default(rounds, last_default, pipe, embeds, args, text_s, decode_s)

    if not args.no_fast:
        for interval in args.intervals:
            measured = [(entry["fast"][interval], entry) for entry in rounds]
            fast = _fast(pipe, embeds, args, text_s, decode_s, interval, measured)
            key = "fast" if interval == args.intervals[0] else f"fast_interval_{interval}"
            result[key] = fast
        if args.fast_fp32:
            result["fast"]["without_int8"] = _without_int8(rounds, args, text_s, decode_s)
    result["goals"] = _goals(result)
    result["threads"] = torch.get_num_threads()
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    result["load_after"] = _load()
    result["method"] = (
        "seconds per step: the fastest of the measured steps after one warm-up step (the least "
        "disturbed on a shared machine), multiplied by the step count; "
        "image_s = text_s + steps * step_s + decode_s"
    )
    return result


def _default(rounds, last, pipe, embeds, args, text_s, decode_s) -> dict:
    """``ours`` (the default preset: its fastest round) and its ratios: each round's baseline
    against the default measured right after it, the median of the rounds the headline;
    ``last``: the last round's job pipe, accelerator and latents, for the parity check."""
    import statistics

    paired = []
    for entry in rounds:
        ours = entry.pop("default")
        step = min(ours["measured_step_s"])
        base = min(entry["baseline_step_s"])
        image = per_image(text_s, step, ours["steps"], decode_s)
        paired.append((ours, step, base / step, per_image(text_s, base, 50, decode_s) / image))
        entry["default_step_s"] = ours["measured_step_s"]
    ours, step, _, _ = min(paired, key=lambda row: row[1])
    ours |= {"step_s": step, "text_s": text_s, "decode_s": decode_s}
    ours |= {"decode_note": "the same VAE as baseline", "load": _load()}
    ours["image_s"] = per_image(text_s, step, ours["steps"], decode_s)
    ours["parity_cosine"] = _parity(pipe, *last, embeds, args.size)
    ours["round_step_ratios"] = [row[2] for row in paired]
    ours["round_image_ratios"] = [row[3] for row in paired]
    return {
        "ours": ours,
        "ratio": statistics.median(ours["round_image_ratios"]),
        "step_ratio": statistics.median(ours["round_step_ratios"]),
    }


def _parity(pipe, job, accelerator, latents, embeds, size) -> float:
    """Cosine of our UNet call's noise prediction with eager PyTorch's on the same input."""
    import torch

    sample = torch.cat([latents] * 2)
    states = torch.cat([embeds["negative_prompt_embeds"], embeds["prompt_embeds"]])
    timestep = job.scheduler.timesteps[3]
    with torch.inference_mode():
        eager = pipe.unet(sample, timestep, encoder_hidden_states=states).sample
        with accelerator.image(job, {"height": size, "width": size, **embeds}, guidance=True):
            ours = job.unet(sample, timestep, encoder_hidden_states=states).sample
    return cosine(eager, ours)


def _fast_round(pipe, embeds, args, interval, int8=True) -> dict:
    """One round of ``fast``'s steps: the record, with the tiny VAE's decode timed."""
    import torch
    from diffusers import AutoencoderTiny

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        AutoencoderTiny().save_pretrained(tmp)  # TAESD's architecture, random weights
        record, job, accelerator, latents = measure_ours(
            pipe, embeds, args, "fast", Path(tmp), interval, int8
        )
        record["tiny_decode_s"] = decode_seconds(accelerator._vae(job), latents)
    weights = [w for w in accelerator.model.compiled.values() if hasattr(w, "verdicts")]
    record["int8_noise_cosine"] = [v.cosine for w in weights for v in w.verdicts.values()]
    return record


def _fast_image(record, interval, text_s, decode_s) -> dict:
    """Seconds per image from one round's steps: after the warm-up (a full step), steps
    1..n are interval - 1 cached, then one full, and so on."""
    durations = record["measured_step_s"]
    full = [d for i, d in enumerate(durations, start=1) if i % interval == 0]
    cached = [d for i, d in enumerate(durations, start=1) if i % interval != 0]
    steps = record["steps"]
    n_full = -(-steps // interval)
    unet_s = n_full * min(full) + (steps - n_full) * min(cached)
    return {
        "full_step_s": min(full),
        "cached_step_s": min(cached),
        "full_steps": n_full,
        "step_s": unet_s / steps,
        "image_s": text_s + unet_s + record["tiny_decode_s"],
        "image_s_full_vae": text_s + unet_s + decode_s,
    }


def _fast(pipe, embeds, args, text_s, decode_s, interval, measured) -> dict:
    """``fast``'s record: the best round's figures and every round's ratio to its paired
    baseline (the median is the headline)."""
    import statistics

    rounds = []
    for record, entry in measured:
        image = _fast_image(record, interval, text_s, decode_s)
        base = per_image(text_s, min(entry["baseline_step_s"]), 50, decode_s)
        rounds.append(
            image
            | {
                "load": entry["load"],
                "baseline_image_s": base,
                "ratio": base / image["image_s"],
                "ratio_full_vae": base / image["image_s_full_vae"],
                "unet_cpu_ratio": _unet_cpu_ratio(entry, record, interval),
                "measured_step_s": record["measured_step_s"],
                "measured_step_cpu_s": record["measured_step_cpu_s"],
            }
        )
    record = measured[0][0]
    best = min(rounds, key=lambda r: r["image_s"])
    fast = {k: record[k] for k in ("speed", "scheduler", "steps", "plan", "notes")}
    fast |= {k: best[k] for k in ("full_step_s", "cached_step_s", "full_steps", "step_s")}
    fast |= {
        "text_s": text_s,
        "decode_s": record["tiny_decode_s"],
        "decode_note": "tiny VAE (TAESD architecture, random weights)",
        "image_s": best["image_s"],
        "image_s_full_vae": best["image_s_full_vae"],
        "ratio": statistics.median(r["ratio"] for r in rounds),
        "ratio_full_vae": statistics.median(r["ratio_full_vae"] for r in rounds),
        "unet_cpu_ratio": statistics.median(r["unet_cpu_ratio"] for r in rounds),
        "rounds": rounds,
        "int8_noise_cosine": record["int8_noise_cosine"],
        "prepare_s_once": record["prepare_s_once"],
        "deepcache_interval": interval,
    }
    fast["latent_cosine_vs_default"] = _latent_cosine(pipe, embeds, args, interval)
    return fast


def _cpu_full(record, interval) -> float:
    cpu = record["measured_step_cpu_s"]
    return min(d for i, d in enumerate(cpu, start=1) if i % interval == 0)


def _unet_cpu_ratio(entry, record, interval) -> float:
    """The baseline's 50 UNet steps over ``fast``'s 25 in process CPU seconds (the fastest
    full and cached step of each), from one round: the UNet's work, whatever the load."""
    cpu = record["measured_step_cpu_s"]
    full = min(d for i, d in enumerate(cpu, start=1) if i % interval == 0)
    cached = min(d for i, d in enumerate(cpu, start=1) if i % interval != 0)
    n_full = -(-record["steps"] // interval)
    ours = n_full * full + (record["steps"] - n_full) * cached
    return 50 * min(entry["baseline_step_cpu_s"]) / ours


def _without_int8(rounds, args, text_s, decode_s) -> dict:
    """``fast`` without int8, each round paired with its baseline and with int8 ``fast``."""
    import statistics

    interval = args.intervals[0]
    paired = []
    for entry in rounds:
        fp32 = _fast_image(entry["fast_fp32"], interval, text_s, decode_s)
        int8 = _fast_image(entry["fast"][interval], interval, text_s, decode_s)
        base = per_image(text_s, min(entry["baseline_step_s"]), 50, decode_s)
        paired.append(
            fp32
            | {
                "ratio": base / fp32["image_s"],
                "int8_full_step_gain": fp32["full_step_s"] / int8["full_step_s"],
                "int8_full_step_cpu_gain": _cpu_full(entry["fast_fp32"], interval)
                / _cpu_full(entry["fast"][interval], interval),
                "unet_cpu_ratio": _unet_cpu_ratio(entry, entry["fast_fp32"], interval),
                "int8_cached_step_gain": fp32["cached_step_s"] / int8["cached_step_s"],
                "measured_step_s": entry["fast_fp32"]["measured_step_s"],
            }
        )
    return {"ratio": statistics.median(r["ratio"] for r in paired), "rounds": paired}


def _latent_cosine(pipe, embeds, args, interval) -> dict:
    """Final latents of complete default and fast runs from one seed, compared."""
    from dataclasses import replace

    from polymodal.diffusion.options import DEFAULT_GUIDANCE, DEFAULT_STEPS, GenerateOptions
    from polymodal.diffusion.pipelines import DiffusionModel
    from polymodal.diffusion.schedulers import DEFAULT_SCHEDULER, scheduler_spec
    from polymodal.diffusion.speed import Accelerator, plan

    size = args.cosine_size
    model = DiffusionModel(pipe, name="sd15-random", weights=Path("/nonexistent"))
    finals = _DEFAULT_FINAL.copy()  # the default run once, whatever the intervals
    for run in [s for s in ("default", "fast", "fast_fp32") if s not in finals]:
        speed = run.removesuffix("_fp32")
        options = GenerateOptions(prompt="bench", width=size, height=size, speed=speed)
        # The default's UNet in eager PyTorch: no second export at this size, and the
        # parity above shows the compiled UNet gives the eager noise prediction.
        chosen = replace(plan(model, options, (size, size), "cpu"), unet="torch")
        if speed == "fast":
            chosen = replace(chosen, deepcache=interval, int8=run == "fast")
        accelerator = Accelerator(model, chosen)
        job = model.pipeline("txt2img", scheduler_spec(DEFAULT_SCHEDULER))
        with accelerator.image(job, {"height": size, "width": size, **embeds}, guidance=True):
            finals[run] = full_run(
                job, embeds, steps=DEFAULT_STEPS, size=size, guidance=DEFAULT_GUIDANCE
            )
    _DEFAULT_FINAL["default"] = finals["default"]
    return {
        "size": f"{size}x{size}",
        "cosine": cosine(finals["default"], finals["fast"]),
        "cosine_without_int8": cosine(finals["default"], finals["fast_fp32"]),
        "int8_vs_fp32_fast": cosine(finals["fast"], finals["fast_fp32"]),
    }


_DEFAULT_FINAL: dict = {}


def _goals(result: dict) -> dict:
    goals = {}
    if "ours" in result:
        parity = result["ours"]["parity_cosine"]
        goals["image_ratio"] = {"target": GOALS["image_ratio"], "value": result["ratio"]}
        goals["step_ratio_at_parity"] = {
            "target": GOALS["step_ratio"],
            "value": result["step_ratio"] if parity >= GOALS["parity"] else 0.0,
            "parity": parity,
        }
    if "fast" in result:
        goals["fast_ratio"] = {"target": GOALS["fast_ratio"], "value": result["fast"]["ratio"]}
    for goal in goals.values():
        goal["met"] = goal["value"] >= goal["target"]
    return goals


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_rounded(main()), indent=2) + "\n")
