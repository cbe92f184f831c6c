"""Model and LoRA hashes as A1111 and civitai compute them, each file hashed once."""

from __future__ import annotations

import hashlib
import os

import polymodal
from polymodal.diffusion import hashes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def counting_digests(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = hashes._digest

    def digest(path, offset):
        calls.append(path.name)
        return real(path, offset)

    monkeypatch.setattr(hashes, "_digest", digest)
    return calls


def test_a_checkpoints_hash_is_autov2_and_read_once(tmp_path, monkeypatch):
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(os.urandom(3 << 20))
    calls = counting_digests(monkeypatch)
    expected = sha(checkpoint.read_bytes())[:10]
    assert hashes.model_hash(checkpoint) == expected
    assert hashes.model_hash(checkpoint) == expected
    assert hashes.model_hash(tmp_path / "." / "model.safetensors") == expected  # same file
    assert calls == ["model.safetensors"], "hashed more than once"
    assert (hashes.settings().cache_dir / hashes.CACHE_NAME).exists()

    checkpoint.write_bytes(b"other" + checkpoint.read_bytes()[5:])  # same size, new content
    os.utime(checkpoint, ns=(1, 1))  # and a different time
    assert hashes.model_hash(checkpoint) == sha(checkpoint.read_bytes())[:10] != expected
    assert len(calls) == 2


def test_a_generation_records_the_checkpoints_autov2_hash(tiny_sd_file, tiny_sd_dir):
    from_file = polymodal.generate("a cat", model=tiny_sd_file, config=tiny_sd_dir, seed=1,
                                   steps=1, width=64, height=64)  # fmt: skip
    assert from_file.images[0].parameters.model_hash == sha(tiny_sd_file.read_bytes())[:10]
    from_folder = polymodal.generate("a cat", model=tiny_sd_dir, seed=1, steps=1, width=64,
                                     height=64)  # fmt: skip
    unet = tiny_sd_dir / "unet" / "diffusion_pytorch_model.safetensors"
    assert from_folder.images[0].parameters.model_hash == sha(unet.read_bytes())[:10]


def test_a_safetensors_loras_hash_skips_its_header(tmp_path):
    import torch
    from safetensors.torch import save_file

    tensors = {"lora_unet_x.lora_down.weight": torch.arange(12.0).reshape(3, 4)}
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    save_file(tensors, one, metadata={"ss_output_name": "one"})
    save_file(tensors, two, metadata={"ss_output_name": "a longer name", "note": "edited"})
    data = one.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    assert hashes.lora_hash(one) == sha(data[header:])[:12]  # A1111's addnet hash
    assert hashes.lora_hash(two) == hashes.lora_hash(one)  # metadata edits keep it
    assert sha(data)[:12] != hashes.lora_hash(one)
    old_format = tmp_path / "old.pt"
    old_format.write_bytes(b"pickled weights")
    assert hashes.lora_hash(old_format) == sha(b"pickled weights")[:12]
