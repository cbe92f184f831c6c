"""What a generation returns: each image with every parameter that made it, the seed included.

:class:`Parameters` is exactly what :mod:`~polymodal.diffusion.metadata` writes into a PNG and
reads back, so ``generate --from out.png`` repeats the request that made ``out.png``. The image
itself stays in Python (``render: False``); the JSON of a result carries its parameters and the
path it was saved to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class LoraWeight:
    """A LoRA applied at ``scale`` (0 = off, 1 = as trained); ``path`` absolute once resolved,
    ``hash`` A1111's short LoRA hash (12 hex digits: see
    :mod:`~polymodal.diffusion.hashes`)."""

    path: str
    scale: float = 1.0
    hash: str = ""

    @property
    def name(self) -> str:
        """The name A1111 shows for it: the file name without its suffix."""
        return Path(self.path).stem


@dataclass(frozen=True)
class Parameters:
    """The settings of one image. ``model`` is what the caller named (a catalogue name, or
    the absolute path of a local directory or checkpoint); ``model_hash`` A1111's short hash
    of the weights; ``init``/``mask``/``strength`` only for img2img and inpainting; ``loras``
    the LoRAs applied, in order; ``control*`` the ControlNet, its source picture (the path as
    given, made absolute), weight and model, whether the picture was made into the map here
    and by which depth model; ``speed`` the preset that made it (``fast``
    images differ slightly from ``default`` ones, so ``--from`` must know)."""

    prompt: str
    negative: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    scheduler: str
    model: str
    model_name: str
    model_hash: str
    mode: str = "txt2img"
    strength: float | None = None
    init: str | None = None
    mask: str | None = None
    loras: tuple[LoraWeight, ...] = ()
    control: str | None = None
    control_image: str | None = None
    control_scale: float | None = None
    control_model: str | None = None
    control_preprocess: bool | None = None
    control_annotator: str | None = None
    speed: str = "default"


@dataclass(frozen=True)
class Timings:
    """Where one image's seconds went: text encoding, the denoising steps (median per step),
    and the rest (VAE decode and image conversion) after the last step."""

    encode_s: float
    step_s: float
    steps: int
    decode_s: float
    total_s: float


@dataclass(frozen=True)
class GeneratedImage:
    """One image and its parameters; ``path`` once saved; ``notes`` what the user should know
    (a prompt truncated, an option adjusted). ``screened``: ``None`` when not screened, else
    ``"passed"`` or ``"flagged"`` (the image then blurred, ``screened_categories`` saying
    why; see :func:`polymodal.tasks.screen.screen_image`)."""

    parameters: Parameters
    timings: Timings
    path: Path | None = None
    notes: tuple[str, ...] = ()
    screened: str | None = None
    screened_categories: tuple[str, ...] = ()
    image: Any = field(default=None, compare=False, repr=False, metadata={"render": False})


@dataclass(frozen=True)
class Generation:
    """Every image of one request, in order."""

    images: tuple[GeneratedImage, ...]

    render_properties: ClassVar[tuple[str, ...]] = ("seeds",)

    @property
    def seeds(self) -> list[int]:
        """Each image's seed, in order (what ``-n 4`` without a seed picked)."""
        return [image.parameters.seed for image in self.images]


@dataclass(frozen=True)
class ImageInfo:
    """The generation parameters found in an image file, whichever tool wrote them.

    ``source`` is ``polymodal``, ``a1111`` or ``comfyui``; ``parameters`` the settings we
    could map (``None`` when a file carries only a graph we cannot read); ``raw`` the text as
    stored (A1111's ``parameters`` chunk, or ComfyUI's ``prompt`` JSON).
    """

    path: Path
    source: str
    parameters: Parameters | None
    extra: dict[str, str]
    raw: str
