"""``polymodal generate``: Stable Diffusion from the shell; ``polymodal info``: the parameters
stored in an image (ours, A1111's or ComfyUI's).

The flags become one ``GenerateOptions`` here (or the options read from ``--from FILE``, with
the flags given replacing theirs); the library validates, loads, generates. Each image is saved
as soon as it is finished, atomically, so Ctrl-C (which stops between steps) keeps the finished
images and never leaves half a file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import polymodal
from polymodal.cli.app import (
    FLAG_FOR_PARAM,
    app,
    cancel_on_interrupt,
    console,
    err_console,
    guarded,
    print_json,
    progress_bar,
)
from polymodal.errors import BadInputError

FLAG_FOR_PARAM.update(
    {"prompt": "", "path": "", "n": "-n", "loras": "--lora", "control": "--control"}
)

_opt = typer.Option


@app.command("generate")
@guarded
def generate_command(
    prompt: Annotated[str | None, typer.Argument(help="What the image should show.")] = None,
    negative: Annotated[
        str | None, _opt("--negative", help='What to avoid (default: a standard list; "" none).')
    ] = None,
    seed: Annotated[
        int | None, _opt("--seed", help="Seed of the first image (default random).")
    ] = None,
    steps: Annotated[int | None, _opt("--steps", help="Denoising steps (default 25).")] = None,
    guidance: Annotated[float | None, _opt("--guidance", help="CFG scale (default 7).")] = None,
    size: Annotated[
        str | None, _opt("--size", help="WIDTHxHEIGHT, multiples of 8 (default: the model's).")
    ] = None,
    scheduler: Annotated[
        str | None,
        _opt("--scheduler", help='Sampler by its A1111 name (default "DPM++ 2M Karras").'),
    ] = None,
    n: Annotated[int, _opt("-n", help="Number of images (seeds counting up from --seed).")] = 1,
    output: Annotated[
        Path | None, _opt("--output", "-o", help="PNG to write (name-1.png ... for several).")
    ] = None,
    model: Annotated[
        str | None, _opt("--model", "-m", help="Catalogue name, diffusers folder or checkpoint.")
    ] = None,
    config: Annotated[
        Path | None, _opt("--config", help="Diffusers folder configuring a single checkpoint.")
    ] = None,
    init: Annotated[Path | None, _opt("--init", help="Start from this image (img2img).")] = None,
    strength: Annotated[
        float | None, _opt("--strength", help="How much to change --init, 0-1 (default 0.6).")
    ] = None,
    mask: Annotated[
        Path | None, _opt("--mask", help="Repaint where this mask is white (with --init).")
    ] = None,
    lora: Annotated[
        list[str] | None,
        _opt("--lora", help="LoRA file PATH[:SCALE] (repeatable; Kohya/A1111 files work)."),
    ] = None,
    control: Annotated[
        str | None,
        _opt(
            "--control",
            help="ControlNet: canny (edges made here), depth (estimated from a colour photo; a "
            "grey picture is the map) or pose (give the skeleton).",
        ),
    ] = None,
    control_image: Annotated[
        Path | None, _opt("--control-image", help="The picture the control comes from.")
    ] = None,
    control_scale: Annotated[float, _opt("--control-scale", help="ControlNet weight, 0-2.")] = 1.0,
    control_model: Annotated[
        str | None, _opt("--control-model", help="ControlNet name or folder (default per kind).")
    ] = None,
    control_preprocess: Annotated[
        bool | None,
        _opt(
            "--control-preprocess/--no-control-preprocess",
            help="Make the map from the control image here, or take it as the map (default: "
            "depth estimated only from a colour picture).",
        ),
    ] = None,
    control_annotator: Annotated[
        str | None,
        _opt("--control-annotator", help="Depth model name or folder (default dpt-hybrid-midas)."),
    ] = None,
    speed: Annotated[
        str | None,
        _opt(
            "--speed",
            help="default: exact quality (the UNet compiled once per model and size for ONNX "
            "Runtime on the CPU, checked against PyTorch). fast: DeepCache reuses the UNet's "
            "deep features 2 steps in 3 (about 2x less UNet time, slightly different images), "
            "the UNet's Linear layers run in int8 on the CPU (checked against fp32 once per "
            "model), and the tiny VAE (TAESD) decodes when its weights are on this machine.",
        ),
    ] = None,
    vae_tiling: Annotated[
        bool | None,
        _opt(
            "--vae-tiling/--no-vae-tiling",
            help="Decode in tiles (default: only when the whole image would not fit in memory).",
        ),
    ] = None,
    from_image: Annotated[
        Path | None, _opt("--from", help="Repeat the settings stored in this PNG.")
    ] = None,
    screen: Annotated[
        bool,
        _opt(
            "--screen",
            help="Screen each image with CLIP moderation (POLYMODAL_CLIP_MODEL): a flagged "
            "image is saved blurred and marked, never dropped.",
        ),
    ] = False,
    screen_categories: Annotated[
        Path | None,
        _opt("--screen-categories", help="Moderation categories TOML for --screen."),
    ] = None,
    json_out: Annotated[bool, _opt("--json", help="Print JSON.")] = False,
) -> None:
    """Generate images with Stable Diffusion; each PNG carries its parameters (A1111 style)."""
    width, height = polymodal.parse_size(size) if size else (None, None)
    given = {
        "negative": negative,
        "steps": steps,
        "guidance": guidance,
        "width": width,
        "height": height,
        "scheduler": scheduler,
        "init": init,
        "mask": mask,
        "strength": strength,
        "config": config,
        "prompt": prompt,
        "loras": tuple(polymodal.parse_lora(x) for x in lora) if lora else None,
        "control": polymodal.control_request(
            control,
            control_image,
            control_scale,
            control_model,
            preprocess=control_preprocess,
            annotator=control_annotator,
        ),
        "speed": speed,
        "vae_tiling": vae_tiling,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if from_image is not None:
        options = polymodal.options_from_image(from_image, seed=seed, model=model, n=n)
        options = replace(options, **given)
    elif prompt is None:
        raise BadInputError("Say what the image should show (a prompt), or give --from FILE.")
    else:
        options = polymodal.GenerateOptions(seed=seed, n=n, model=model, **given)
    paths = polymodal.output_paths(output, options.n) if output else None
    encoder = polymodal.get_encoder() if screen else None  # a missing model fails first
    saved: list[Any] = []
    with cancel_on_interrupt() as token, progress_bar("generate", "steps", not json_out) as bar:
        for index, image in enumerate(polymodal.iter_generate(options, progress=bar, cancel=token)):
            if encoder is not None:
                image = polymodal.screen_image(
                    image, model=encoder, categories_file=screen_categories
                )
            target = paths[index] if paths else Path(f"generated-{image.parameters.seed}.png")
            saved.append(polymodal.save_image(image, target))
            _show(saved[-1], json_out)
    if json_out:
        print_json(polymodal.Generation(tuple(saved)))


def _show(image: Any, json_out: bool) -> None:
    for note in image.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    if json_out:
        return
    p, t = image.parameters, image.timings
    flagged = f"  FLAGGED ({', '.join(image.screened_categories)}), blurred"
    console.print(
        f"{image.path}  seed {p.seed}  {p.width}x{p.height}  {p.steps} steps {p.scheduler}  "
        f"{t.step_s:.2f} s/step, {t.total_s:.1f} s"
        + (flagged if image.screened == "flagged" else ""),
        highlight=False,
    )


@app.command("info")
@guarded
def info_command(
    path: Annotated[Path, typer.Argument(help="An image made by polymodal, A1111 or ComfyUI.")],
    json_out: Annotated[bool, _opt("--json", help="Print JSON.")] = False,
) -> None:
    """Show the generation parameters stored in an image."""
    info = polymodal.read_parameters(path)
    if json_out:
        print_json(info)
        return
    table = Table(show_header=False, box=None)
    table.add_row("source", info.source)
    if info.parameters is not None:
        for name, value in polymodal.to_data(info.parameters).items():
            if value not in (None, "", []):
                table.add_row(name, str(value))
    for name, value in info.extra.items():
        table.add_row(name, value)
    console.print(table)
