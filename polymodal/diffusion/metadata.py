"""Generation parameters in PNG text chunks: written as A1111 does, read from A1111, ComfyUI
and ourselves.

We write two chunks. ``parameters`` is A1111's text, the one other tools read (civitai, the
A1111 and Forge "PNG Info" tab, ``sd-parsers``)::

    a lighthouse at dusk
    Negative prompt: blurry, low quality
    Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 123, Size: ...

(the line goes on: ``Size: 512x512, Model hash: 1a2b3c4d5e, Model: sd-1.5``), with A1111's
quoting (a value holding ``,``, ``:`` or a newline is written as a JSON string).
``polymodal`` holds our :class:`Parameters` as JSON, exactly, so ``generate --from`` repeats a
request down to the model path and the init image. A file from another tool has only its own
chunks; ComfyUI's ``prompt`` chunk is its node graph, from which we read the sampler node.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from polymodal.diffusion.options import SPEEDS, parse_size
from polymodal.diffusion.results import GeneratedImage, Generation, ImageInfo, Parameters
from polymodal.diffusion.schedulers import scheduler_spec
from polymodal.errors import BadInputError, PolymodalError
from polymodal.media.files import write_atomic
from polymodal.render import from_data, to_data

OURS = "polymodal"
A1111 = "parameters"
VERSION = "polymodal 0.1.0"
#: Our extra key in A1111's settings line: the ``--speed`` preset (A1111 and the parsers that
#: follow it keep keys they do not know as extra fields).
SPEED_KEY = "Polymodal speed"
#: Whether the image was screened and what flagged it (a flagged image is stored blurred).
SCREENED_KEY = "Screened"

# A1111's own pattern for one "Key: value" pair of the last line (modules/infotext_utils.py).
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def _quote(value: Any) -> str:
    """A1111's ``quote``: JSON-quote a value that holds a comma, a colon or a newline."""
    text = str(value)
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


#: A1111's ControlNet extension's preprocessor names for the maps we make ("none": ready map).
_MODULES = {"canny": "canny", "depth": "depth_midas"}


def _controlnet_field(p: Parameters) -> str | None:
    """A1111's ControlNet extension's field: ``Module: canny, Model: ..., Weight: 1``."""
    if p.control is None:
        return None
    model = Path(p.control_model or "").name or p.control_model
    made_here = p.control == "canny" if p.control_preprocess is None else p.control_preprocess
    module = _MODULES.get(p.control, "none") if made_here else "none"
    return f"Module: {module}, Model: {model}, Weight: {_number(p.control_scale or 1.0)}"


def screening_text(screened: str | None, categories: tuple[str, ...] = ()) -> str | None:
    """Our ``Screened`` field: ``passed``, or ``flagged: violence, weapons``."""
    if screened is None:
        return None
    return f"{screened}: {', '.join(categories)}" if categories else screened


def a1111_text(p: Parameters, screened: str | None = None) -> str:
    """``p`` as A1111's ``parameters`` text (prompt, negative line, settings line);
    ``screened`` the :func:`screening_text` of a screened image."""
    spec = scheduler_spec(p.scheduler)
    fields: dict[str, Any] = {
        "Steps": p.steps,
        "Sampler": spec.sampler,
        "Schedule type": spec.schedule,
        "CFG scale": _number(p.guidance),
        "Seed": p.seed,
        "Size": f"{p.width}x{p.height}",
        "Model hash": p.model_hash or None,
        "Model": p.model_name,
        "Denoising strength": _number(p.strength) if p.strength is not None else None,
        "Lora hashes": ", ".join(f"{x.name}: {x.hash}" for x in p.loras) or None,
        "ControlNet 0": _controlnet_field(p),
        SPEED_KEY: p.speed,
        SCREENED_KEY: screened,
        "Version": VERSION,
    }
    settings = ", ".join(f"{k}: {_quote(v)}" for k, v in fields.items() if v is not None)
    negative = f"\nNegative prompt: {p.negative}" if p.negative else ""
    return f"{p.prompt}{negative}\n{settings}"


def png_bytes(image: Any, parameters: Parameters, screened: str | None = None) -> bytes:
    """The image as PNG bytes carrying both chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(A1111, a1111_text(parameters, screened))
    info.add_text(OURS, json.dumps(to_data(parameters), ensure_ascii=False))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_png(
    path: str | Path, image: Any, parameters: Parameters, screened: str | None = None
) -> Path:
    """Write the PNG atomically (never half a file at ``path``); returns the path."""
    target = Path(path)
    write_atomic(target, png_bytes(image, parameters, screened))
    return target


def output_paths(output: str | Path, count: int) -> list[Path]:
    """Where ``count`` images go: ``output`` itself for one, ``name-1.png`` ... for several."""
    target = Path(output)
    if target.suffix.lower() != ".png":
        raise BadInputError(f"The output {target} must be a .png file.", param="output")
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{i}{target.suffix}") for i in range(1, count + 1)]


def save_image(generated: GeneratedImage, path: str | Path) -> GeneratedImage:
    """Write one generated image with its parameters; the result carries the path."""
    screened = screening_text(generated.screened, generated.screened_categories)
    written = save_png(path, generated.image, generated.parameters, screened)
    return replace(generated, path=written.resolve())


def save_images(generation: Generation, output: str | Path) -> Generation:
    """Write every image of ``generation`` (see :func:`output_paths` for the names)."""
    paths = output_paths(output, len(generation.images))
    images = tuple(save_image(g, p) for g, p in zip(generation.images, paths, strict=True))
    return Generation(images)


def parse_a1111(text: str) -> tuple[str, str, dict[str, str]]:
    """A1111's ``parameters`` text -> (prompt, negative prompt, settings), as A1111 parses it."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if len(_PARAM.findall(lines[-1])) >= 3:
        for key, value in _PARAM.findall(lines.pop()):
            settings[key.strip()] = json.loads(value) if value.startswith('"') else value.strip()
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            negative.append(line.removeprefix("Negative prompt:").strip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    return "\n".join(prompt).strip(), "\n".join(negative).strip(), settings


def _scheduler_name(sampler: str, schedule: str | None) -> str:
    try:
        return scheduler_spec(sampler, schedule).name
    except PolymodalError:  # a sampler we do not run: keep its name; --from will say so
        return f"{sampler} {schedule}".strip() if schedule else sampler


_USED = {
    "Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model",
    "Denoising strength", SPEED_KEY,
}  # fmt: skip


def _from_a1111(text: str) -> tuple[Parameters, dict[str, str]]:
    prompt, negative, s = parse_a1111(text)
    width, height = parse_size(s.get("Size", "512x512"))
    strength = s.get("Denoising strength")
    parameters = Parameters(
        prompt=prompt,
        negative=negative,
        seed=int(s.get("Seed", 0)),
        steps=int(s.get("Steps", 20)),
        guidance=float(s.get("CFG scale", 7)),
        width=width,
        height=height,
        scheduler=_scheduler_name(s.get("Sampler", "Euler a"), s.get("Schedule type")),
        model=s.get("Model", ""),
        model_name=s.get("Model", ""),
        model_hash=s.get("Model hash", ""),
        mode="img2img" if strength else "txt2img",
        strength=float(strength) if strength else None,
        speed=s.get(SPEED_KEY, "default") if s.get(SPEED_KEY) in SPEEDS else "default",
    )
    extra = {k: v for k, v in s.items() if k not in _USED}
    return parameters, extra


def read_parameters(path: str | Path) -> ImageInfo:
    """The generation parameters stored in an image: ours, A1111's or ComfyUI's.

    Raises :class:`~polymodal.errors.BadInputError` for a file that is not an image or holds
    no parameters of any of these tools.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            chunks = {k: v for k, v in image.info.items() if isinstance(v, str)}
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file.", param="path") from None
    except (UnidentifiedImageError, OSError):
        raise BadInputError(f"{path} is not an image.", param="path") from None
    if OURS in chunks:
        parameters = from_data(Parameters, json.loads(chunks[OURS]))
        extra = _from_a1111(chunks[A1111])[1] if A1111 in chunks else {}
        return ImageInfo(path, "polymodal", parameters, extra, chunks.get(A1111, chunks[OURS]))
    if A1111 in chunks:
        parameters, extra = _from_a1111(chunks[A1111])
        return ImageInfo(path, "a1111", parameters, extra, chunks[A1111])
    if "prompt" in chunks:
        return ImageInfo(path, "comfyui", _from_comfyui(chunks["prompt"]), {}, chunks["prompt"])
    raise BadInputError(
        f"{path} carries no generation parameters (none of A1111's, ComfyUI's or ours).",
        param="path",
    )


_SAMPLERS = ("KSampler", "KSamplerAdvanced")


def _follow(graph: dict[str, Any], link: Any, want: str, depth: int = 8) -> Any:
    """The value of input ``want`` on the first node reached from ``link`` (``[id, slot]``)."""
    if depth == 0 or not isinstance(link, list) or not link:
        return None
    node = graph.get(str(link[0]), {})
    inputs = node.get("inputs", {})
    if want in inputs and not isinstance(inputs[want], list):
        return inputs[want]
    for value in inputs.values():
        found = _follow(graph, value, want, depth - 1)
        if found is not None:
            return found
    return None


def _from_comfyui(text: str) -> Parameters | None:
    """The settings of the first KSampler in a ComfyUI ``prompt`` graph (``None``: none)."""
    try:
        graph = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(graph, dict):
        return None
    samplers = [
        n for n in graph.values() if isinstance(n, dict) and n.get("class_type") in _SAMPLERS
    ]
    if not samplers:
        return None
    inputs = samplers[0]["inputs"]
    model = str(_follow(graph, inputs.get("model"), "ckpt_name") or "")
    schedule = "Karras" if inputs.get("scheduler") == "karras" else None
    denoise = float(inputs.get("denoise", 1.0))
    return Parameters(
        prompt=str(_follow(graph, inputs.get("positive"), "text") or ""),
        negative=str(_follow(graph, inputs.get("negative"), "text") or ""),
        seed=int(inputs.get("seed", inputs.get("noise_seed", 0))),
        steps=int(inputs.get("steps", 20)),
        guidance=float(inputs.get("cfg", 7)),
        width=int(_follow(graph, inputs.get("latent_image"), "width") or 512),
        height=int(_follow(graph, inputs.get("latent_image"), "height") or 512),
        scheduler=_scheduler_name(str(inputs.get("sampler_name", "euler")), schedule),
        model=model,
        model_name=Path(model).stem,
        model_hash="",
        mode="img2img" if denoise < 1 else "txt2img",
        strength=denoise if denoise < 1 else None,
    )
