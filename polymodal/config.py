"""Settings in one place: environment variables ``POLYMODAL_*`` with sane defaults.

Read through :func:`settings` so tests can change the environment and get fresh values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from polymodal.errors import BadInputError


def _env(name: str, default: str) -> str:
    return os.environ.get(f"POLYMODAL_{name}", default)


def _flag(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``home`` holds caches and prepared models; ``memory_mb`` is the
    budget for resident models (see :func:`default_memory_mb`)."""

    home: Path
    device: str
    threads: int
    whisper_model: str
    clip_model: str
    int8: bool
    allow_download: bool
    memory_mb: float

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
        memory_mb=_memory_budget(),
    )


def _memory_budget() -> float:
    raw = os.environ.get("POLYMODAL_MEMORY_MB", "").strip()
    if not raw:
        return default_memory_mb()
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise BadInputError(
            f"POLYMODAL_MEMORY_MB must be a number of megabytes above 0 (such as 4096), "
            f"not '{raw}'."
        )
    return value


def default_memory_mb() -> float:
    """Half of this machine's memory (or of the container's limit, when lower), in MB.

    Half, because resident models are not all a process holds: decoded audio, image batches,
    activations and the page cache that makes reading weights fast need room too, and a
    server shares the machine with other programs. Transcribing with whisper-base peaks at
    1.8 GiB, three times the 600 MB the catalogue counts for the model itself, so a budget
    near the whole memory would swap before it evicted. 8 GB where the size cannot be read.
    """
    physical = _physical_memory_mb()
    limit = _cgroup_limit_mb()
    known = [v for v in (physical, limit) if v]
    return min(known) / 2 if known else 8192.0


def _physical_memory_mb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (AttributeError, ValueError, OSError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cgroup_limit_mb() -> float | None:
    """A container's memory limit (cgroup v2), which ``sysconf`` does not see."""
    try:
        raw = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return None
    return int(raw) / 2**20 if raw.isdigit() else None


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
