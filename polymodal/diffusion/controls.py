"""ControlNet: a control map guides the layout of a generation (text-to-image, img2img or
inpainting).

``canny`` maps are made here from any picture with OpenCV's Canny edge detector (the
preprocessing A1111's ControlNet extension calls "canny", thresholds 100/200). ``depth`` maps
are estimated from a colour photo with DPT (:mod:`~polymodal.diffusion.annotators`); a grey
picture is taken as the ready depth map. ``pose`` takes a ready skeleton picture (the OpenPose
annotator is not bundled), as A1111's "none" preprocessor takes it. ControlNet models come
through the catalogue (family ``controlnet``) like any model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from polymodal.catalog import load
from polymodal.catalog.locate import ResolvedModel
from polymodal.diffusion import annotators
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
    """A control request: ``kind``, the picture it comes from, its weight and model.

    ``preprocess``: whether the picture is made into the map here (canny edges, estimated
    depth) or is the map already; ``None`` decides (canny: always; depth: a colour picture
    is a photo, a grey one the map; pose: the map). ``annotator``: the depth model (a
    catalogue name or a folder; default ``dpt-hybrid-midas``).
    """

    kind: str
    image: Path
    scale: float = 1.0
    model: str | None = None
    preprocess: bool | None = None
    annotator: str | None = None

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
    if control.kind == "pose" and control.preprocess:
        raise BadInputError(
            "Pose from a photo needs the OpenPose annotator (controlnet_aux and its weights), "
            "which is not bundled: give a pose skeleton picture as the control image.",
            param="control",
        )
    return control


def resolve_preprocess(control: Control, picture: Any) -> Control:
    """``control`` with ``preprocess`` decided for ``picture`` (see :class:`Control`)."""
    if control.preprocess is not None:
        return control
    if control.kind == "canny":
        return replace(control, preprocess=True)
    if control.kind == "depth":
        return replace(control, preprocess=not annotators.is_map(picture))
    return replace(control, preprocess=False)


def annotator_name(control: Control) -> str | None:
    """The depth model that made the map, or ``None`` when no model made it."""
    if control.kind != "depth" or not control.preprocess:
        return None
    return control.annotator or annotators.DEFAULT_DEPTH_MODEL


def canny(image: Any, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> Any:
    """White Canny edges on black, as an RGB picture of the same size."""
    import numpy as np
    from PIL import Image

    cv2 = require("cv2", "generate")
    gray = np.asarray(image.convert("L"))
    edges = cv2.Canny(gray, low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


def control_map(control: Control, image: Any, size: tuple[int, int]) -> Any:
    """The map the ControlNet sees, at the output size: canny edges or estimated depth when
    ``control.preprocess`` (decided by :func:`resolve_preprocess`), else the picture."""
    from PIL import Image

    name = annotator_name(control)
    if name is not None:
        return annotators.estimate_depth(load(name, annotators.FAMILY), image, size)
    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return canny(image) if control.kind == "canny" and control.preprocess else image


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
