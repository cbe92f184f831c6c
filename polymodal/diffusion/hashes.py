"""File hashes as A1111 and civitai show them, each file read once.

* A checkpoint's ``Model hash`` (A1111's "AutoV2", what civitai lists): the first 10 hex digits
  of the SHA-256 of the whole file.
* A LoRA's ``Lora hashes`` entry: the first 12 hex digits of the SHA-256 that A1111's Lora
  extension takes, the "addnet" hash for a ``.safetensors`` file (the bytes after its JSON
  header, so editing the metadata keeps the hash) and the whole file's for other formats.
* A diffusers folder has no single file, so no A1111 or civitai hash can match it: ours is the
  first 10 digits of the SHA-256 of its UNet's weights file (it tells folders apart; other
  tools will not recognise it).

Hashing a 2-7 GB checkpoint takes seconds to a minute, so every digest is kept on disk in
``<POLYMODAL_HOME>/cache/file-hashes.json`` under the file's resolved path, its size and its
modification time: a file is read again only when one of them changes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from polymodal.config import settings
from polymodal.media.files import write_atomic

CACHE_NAME = "file-hashes.json"
MODEL_DIGITS = 10
LORA_DIGITS = 12
_lock = threading.Lock()


def _cache_path() -> Path:
    return settings().cache_dir / CACHE_NAME


def _read_cache() -> dict[str, dict]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: it only costs a rehash
    return data if isinstance(data, dict) else {}


def _digest(path: Path, offset: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(offset)
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _safetensors_data_offset(path: Path) -> int:
    """Where a ``.safetensors`` file's tensor data starts: 8 length bytes, then the header."""
    with path.open("rb") as handle:
        return 8 + int.from_bytes(handle.read(8), "little")


def sha256_hex(path: str | Path, *, addnet: bool = False) -> str:
    """The SHA-256 of the file at ``path`` in hex (``addnet``: of a ``.safetensors`` file's
    tensor data only), from the on-disk cache while the file's size and time are unchanged."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    kind = "addnet" if addnet else "sha256"
    key = f"{kind}:{path}"
    with _lock:
        entry = _read_cache().get(key)
        if entry and (entry.get("size"), entry.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
            return str(entry["sha256"])
        offset = _safetensors_data_offset(path) if addnet else 0
        value = _digest(path, offset)
        cache = _read_cache()
        cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": value}
        target = _cache_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps(cache, indent=0, sort_keys=True))
        return value


def model_hash(weights: Path) -> str:
    """A1111's ``Model hash`` for a checkpoint file, ours for a diffusers folder ("" when the
    folder holds no UNet weights file). See the module docstring for which is which."""
    if weights.is_file():
        return sha256_hex(weights)[:MODEL_DIGITS]
    for name in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"):
        candidate = weights / "unet" / name
        if candidate.exists():
            return sha256_hex(candidate)[:MODEL_DIGITS]
    return ""


def lora_hash(path: Path) -> str:
    """The short hash A1111 writes for a LoRA in ``Lora hashes`` (see the module docstring)."""
    addnet = path.suffix.lower() == ".safetensors"
    return sha256_hex(path, addnet=addnet)[:LORA_DIGITS]
