"""ControlNet: a control map guides the layout of a text-to-image generation.

``canny`` maps are made here from any picture with OpenCV's Canny edge detector (the
preprocessing A1111's ControlNet extension calls "canny", thresholds 100/200). ``depth`` and
``pose`` need annotator models (MiDaS, OpenPose) that are not bundled, so for them the control
image must already be the map (a depth image, a pose skeleton), as A1111's "none" preprocessor
takes it. ControlNet models come through the catalogue (family ``controlnet``) like any model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.catalog.locate import ResolvedModel
from polymodal.errors import BadInputError, ModelUnavailableError, require

KINDS = ("canny", "depth", "pose")
#: The catalogue's ControlNet for each kind (SD 1.5 ControlNet 1.1).
DEFAULT_MODELS = {
    "canny": "controlnet-canny-sd15",
    "depth": "controlnet-depth-sd15",
    "pose": "controlnet-openpose-sd15",
}
CANNY_LOW, CANNY_HIGH = 100, 200


@dataclass(frozen=True)
class Control:
    """A control request: ``kind``, the picture it comes from, its weight and model."""

    kind: str
    image: Path
    scale: float = 1.0
    model: str | None = None

    @property
    def model_name(self) -> str:
        """The ControlNet to load: the one given, else the catalogue's for this kind."""
        return self.model or DEFAULT_MODELS[self.kind]


def check_control(control: Control) -> Control:
    """One sentence for an unknown kind, a scale out of range or a missing image."""
    if control.kind not in KINDS:
        raise BadInputError(
            f"Unknown control '{control.kind}': use one of {', '.join(KINDS)}.", param="control"
        )
    if not 0 <= control.scale <= 2:
        raise BadInputError(
            f"The control scale is 0-2, not {control.scale}.", param="control_scale"
        )
    return control


def canny(image: Any, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> Any:
    """White Canny edges on black, as an RGB picture of the same size."""
    import numpy as np
    from PIL import Image

    cv2 = require("cv2", "generate")
    gray = np.asarray(image.convert("L"))
    edges = cv2.Canny(gray, low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


def control_map(control: Control, image: Any, size: tuple[int, int]) -> Any:
    """The map the ControlNet sees, at the output size: edges for canny, else the picture."""
    from PIL import Image

    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return canny(image) if control.kind == "canny" else image


def load_controlnet(resolved: ResolvedModel) -> Any:
    """The ``controlnet`` family's loader: a diffusers ``ControlNetModel`` folder."""
    diffusers = require("diffusers", "generate")
    import torch

    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    try:
        model = diffusers.ControlNetModel.from_pretrained(
            str(resolved.path), dtype=dtype, local_files_only=True
        )
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(
            f"The ControlNet at {resolved.path} could not be loaded: {reason.rstrip('.')}.",
            param="control_model",
        ) from exc
    return model.to("cuda") if torch.cuda.is_available() else model
