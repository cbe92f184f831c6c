"""Settings in one place: environment variables ``POLYMODAL_*`` with sane defaults.

Read through :func:`settings` so tests can change the environment and get fresh values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"POLYMODAL_{name}", default)


def _flag(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``home`` holds caches and prepared models."""

    home: Path
    device: str
    threads: int
    whisper_model: str
    clip_model: str
    int8: bool
    allow_download: bool

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def _default_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "polymodal"


def settings() -> Settings:
    """Current settings from the environment (cheap; call it where needed, don't cache it)."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in {"", "0", "false", "False"}
    return Settings(
        home=Path(_env("HOME", str(_default_home()))).expanduser(),
        device=_env("DEVICE", "auto"),
        threads=int(_env("THREADS", "0")),
        whisper_model=_env("WHISPER_MODEL", "whisper-base"),
        clip_model=_env("CLIP_MODEL", "clip-vit-base-patch32"),
        int8=_flag("INT8", False),
        allow_download=_flag("ALLOW_DOWNLOAD", not offline),
    )


def pick_device(requested: str | None = None) -> str:
    """Resolve ``auto`` to the best available device: cuda, then mps, then cpu."""
    wanted = (requested or settings().device or "auto").lower()
    if wanted != "auto":
        return wanted
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
