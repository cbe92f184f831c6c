"""What a generation asks for, checked once at the edge: :class:`GenerateOptions`.

Every rule a user can break (an empty prompt, a size that is not a multiple of 8, an unknown
scheduler, a strength outside (0, 1]) is checked here, before any model loads, so a bad request
costs nothing and gets one sentence.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from polymodal.diffusion.controls import Control, check_control
from polymodal.diffusion.lora import resolve_lora
from polymodal.diffusion.results import LoraWeight
from polymodal.diffusion.schedulers import DEFAULT_SCHEDULER, scheduler_spec
from polymodal.errors import BadInputError

#: The negative prompt used unless the caller gives one; ``negative=""`` turns it off. The
#: usual words of the field's practice against common failure modes.
DEFAULT_NEGATIVE = "blurry, low quality, lowres, jpeg artifacts, deformed, watermark, text"

#: The sides Stable Diffusion accepts, in pixels: its VAE works in blocks of 8, and beyond
#: 4096 no released SD model gives anything but repeated tiles.
SIZE_STEP = 8
MIN_SIDE = 64
MAX_SIDE = 4096
MAX_SEED = 2**32 - 1  # A1111's seeds are 32-bit, so ours read back into it unchanged
MAX_IMAGES = 64
DEFAULT_STEPS = 25  # DPM++ 2M Karras converges by 20-30 steps: the field's usual 25
DEFAULT_GUIDANCE = 7.0
#: The speed presets and their trade, as ``--help`` and the README state it (what each lever
#: does and what it was measured to gain: :mod:`polymodal.diffusion.speed`).
SPEEDS: dict[str, str] = {
    "default": "exact quality (noise prediction within cosine 0.999 of eager diffusers); "
    "on the CPU the UNet runs compiled (OpenVINO, else ONNX Runtime), once per model and size",
    "fast": "DeepCache reuses the UNet's deep features 2 steps in 3 (about 2x less UNet "
    "time, slightly different images) and the tiny VAE decodes when its weights are here",
}
DEFAULT_SPEED = "default"


@dataclass(frozen=True)
class GenerateOptions:
    """One request, validated. ``width``/``height`` ``None``: the init image's size, else the
    model's native size. ``seed`` ``None``: a fresh random seed per image (each recorded);
    with a seed, image *i* of ``n`` uses ``seed + i``, as A1111 does.

    ``init`` makes it img2img (``strength`` how much to change: 0 keeps the image, 1 ignores
    it); ``init`` with ``mask`` makes it inpainting (white in the mask = repaint).
    ``config``: for a single checkpoint file, a diffusers folder of the same architecture
    whose configuration it is read with (offline). ``loras``: applied in order, each at its
    scale. ``control``: a ControlNet guiding the layout (with ``init``: img2img or
    inpainting under the ControlNet).

    ``speed``: a preset of :data:`SPEEDS`. ``vae_tiling`` ``None``: decode in tiles only when
    the whole image would not fit in free memory; ``attention_slicing`` ``None``: off (it
    slows PyTorch's built-in attention, which needs no slicing on the CPU).
    """

    prompt: str
    negative: str = DEFAULT_NEGATIVE
    seed: int | None = None
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    width: int | None = None
    height: int | None = None
    scheduler: str = DEFAULT_SCHEDULER
    n: int = 1
    model: str | None = None
    init: Path | None = None
    mask: Path | None = None
    strength: float = 0.6
    config: Path | None = None
    loras: tuple[LoraWeight, ...] = ()
    control: Control | None = None
    speed: str = DEFAULT_SPEED
    vae_tiling: bool | None = None
    attention_slicing: bool | None = None

    @property
    def mode(self) -> str:
        """``txt2img``, ``img2img`` or ``inpaint``."""
        if self.init is None:
            return "txt2img"
        return "inpaint" if self.mask is not None else "img2img"

    def seeds(self) -> list[int]:
        """The seed of each image: consecutive from ``seed``, else fresh random ones."""
        if self.seed is None:
            return [secrets.randbelow(MAX_SEED + 1) for _ in range(self.n)]
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.n)]


def check_size(width: int, height: int) -> None:
    """Raise one sentence unless both sides are multiples of 8 within the accepted range."""
    for value, name in ((width, "width"), (height, "height")):
        if value % SIZE_STEP:
            lower = max(MIN_SIDE, value - value % SIZE_STEP)
            raise BadInputError(
                f"The {name} {value} is not a multiple of {SIZE_STEP}: try {lower}.", param="size"
            )
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise BadInputError(
                f"The {name} {value} is outside {MIN_SIDE}-{MAX_SIDE} pixels.", param="size"
            )


def validate(options: GenerateOptions) -> GenerateOptions:
    """``options`` checked (each rule one sentence) with the scheduler name canonical."""
    prompt = options.prompt.strip() if isinstance(options.prompt, str) else ""
    if not prompt:
        raise BadInputError("The prompt is empty: say what the image should show.", param="prompt")
    if not 1 <= options.steps <= 500:
        raise BadInputError(f"Steps must be 1-500, not {options.steps}.", param="steps")
    if not 0 <= options.guidance <= 50:
        raise BadInputError(f"Guidance must be 0-50, not {options.guidance}.", param="guidance")
    if not 1 <= options.n <= MAX_IMAGES:
        raise BadInputError(f"n must be 1-{MAX_IMAGES}, not {options.n}.", param="n")
    if options.seed is not None and not 0 <= options.seed <= MAX_SEED:
        raise BadInputError(f"A seed is 0-{MAX_SEED}, not {options.seed}.", param="seed")
    if options.init is not None and not 0 < options.strength <= 1:
        raise BadInputError(
            f"Strength must be above 0 and at most 1, not {options.strength}.", param="strength"
        )
    if options.mask is not None and options.init is None:
        raise BadInputError("A mask needs an init image to repaint.", param="mask")
    if options.width is not None or options.height is not None:
        if options.width is None or options.height is None:
            raise BadInputError("Give both width and height, or neither.", param="size")
        check_size(options.width, options.height)
    spec = scheduler_spec(options.scheduler)
    speed = check_speed(options.speed)
    loras = tuple(resolve_lora(lora) for lora in options.loras)
    if options.control is not None:
        check_control(options.control)
    return replace(options, prompt=prompt, scheduler=spec.name, loras=loras, speed=speed)


def check_speed(speed: str) -> str:
    """``speed`` as a preset name of :data:`SPEEDS`, or one sentence naming the presets."""
    key = str(speed).strip().lower()
    if key not in SPEEDS:
        raise BadInputError(
            f"Unknown speed '{speed}': choose {' or '.join(SPEEDS)}.", param="speed"
        )
    return key


def parse_size(text: str) -> tuple[int, int]:
    """``"512x768"`` -> ``(512, 768)`` (width first, as A1111's ``Size:`` field writes it)."""
    width, sep, height = text.lower().replace(" ", "").partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise BadInputError(
            f"The size '{text}' is not WIDTHxHEIGHT, such as 512x512.", param="size"
        )
    return int(width), int(height)
