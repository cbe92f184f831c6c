"""Control-map annotators: a depth map estimated from a photo with DPT (MiDaS 3).

A depth ControlNet wants a depth map: near is bright, far is dark, one grey channel. People
have either that map already (from a 3D tool, or A1111's preprocessor) or a photo. The rule
(:func:`is_map`): a picture whose pixels are all grey (a single-channel file, or RGB with
R = G = B everywhere) is taken as the ready map; a colour picture is a photo, and its depth
is estimated here. ``--control-preprocess`` / ``--no-control-preprocess`` override the rule
(a grey photo, a false-colour map).

The estimator is transformers' ``DPTForDepthEstimation`` with its image processor, loaded
through the catalogue (family ``depth``; default ``dpt-hybrid-midas``, Hugging Face
``Intel/dpt-hybrid-midas``, the model behind A1111's ``depth_midas``) or from a local folder.
Its relative depth is scaled to 0-255 per image, as A1111's preprocessor does.

Pose would need OpenPose's body-keypoint model and its skeleton drawing (``controlnet_aux``
and the ``lllyasviel/Annotators`` weights), which are not bundled: a pose ControlNet takes a
ready skeleton picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polymodal.catalog.locate import ResolvedModel
from polymodal.errors import ModelUnavailableError, require

FAMILY = "depth"
DEFAULT_DEPTH_MODEL = "dpt-hybrid-midas"


@dataclass(frozen=True)
class DepthEstimator:
    """A loaded DPT model and the image processor saved with it."""

    model: Any
    processor: Any

    @property
    def memory_mb(self) -> float:
        """The weights' size in memory, which the resident cache budgets with."""
        return sum(p.numel() * p.element_size() for p in self.model.parameters()) / 2**20


def load_depth_estimator(resolved: ResolvedModel) -> DepthEstimator:
    """The ``depth`` family's loader: a transformers DPT folder (model and image processor)."""
    transformers = require("transformers", "generate")
    path = str(resolved.path)
    try:
        model = transformers.DPTForDepthEstimation.from_pretrained(path, local_files_only=True)
        processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(
            f"The depth model at {resolved.path} could not be loaded: {reason.rstrip('.')}.",
            param="control_annotator",
        ) from exc
    return DepthEstimator(model.eval(), processor)


def is_map(image: Any) -> bool:
    """Whether ``image`` is already a grey map (single channel, or R = G = B everywhere)."""
    import numpy as np

    if image.mode in {"1", "L", "LA", "I", "I;16", "F"}:
        return True
    array = np.asarray(image.convert("RGB"))
    return bool((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all())


def estimate_depth(estimator: DepthEstimator, image: Any, size: tuple[int, int]) -> Any:
    """The depth of ``image`` as a grey RGB picture of ``size`` (near bright, far dark)."""
    import numpy as np
    import torch
    from PIL import Image

    inputs = estimator.processor(images=image.convert("RGB"), return_tensors="pt")
    with torch.inference_mode():
        depth = estimator.model(**inputs).predicted_depth  # (1, H, W), larger = nearer
        depth = torch.nn.functional.interpolate(
            depth[:, None].float(), size=(size[1], size[0]), mode="bicubic", align_corners=False
        )[0, 0]
    low, high = float(depth.min()), float(depth.max())
    scaled = (depth - low) / (high - low) if high > low else torch.zeros_like(depth)
    grey = (scaled.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(np.stack([grey] * 3, axis=-1))
