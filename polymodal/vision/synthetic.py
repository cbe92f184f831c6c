"""Random-weight CLIP checkpoints saved like real ones: for tests (tiny) and benchmarks (real size).

Why: model hubs are out of reach in tests and CI, yet the code under test must load a model
through the same door users do (``catalog.load`` on a directory). A checkpoint written here has
``config.json``, weights, ``preprocessor_config.json`` and a working byte-level BPE tokenizer, so
it loads exactly like ``openai/clip-vit-base-patch32``. The FLOPs of a ``CLIPConfig()`` model
equal the trained one's, which is what speed measurements need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

_WORDS = ("a", "photo", "of", "the", "cat", "dog", "car", "red", "blue", "picture", "an")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte-to-printable-character table."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def tiny_tokenizer(words: Sequence[str] = _WORDS) -> Any:
    """A CLIPTokenizer over single bytes plus whole-word merges for ``words`` (a few common
    ones by default), at CLIP's 77-token context."""
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in [*symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in words:
        if len(word) < 2:
            continue
        current = word[0]
        for index, char in enumerate(word[1:], start=1):
            piece = char + ("</w>" if index == len(word) - 1 else "")
            merges.append((current, piece))
            current += piece
            vocab.setdefault(current, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def save_random_clip(
    directory: str | Path,
    *,
    tiny: bool = True,
    seed: int = 0,
    image_size: int = 64,
    processor: str = "image",
) -> Path:
    """Write a random-weight CLIP checkpoint (model, tokenizer, processor config) to ``directory``.

    ``tiny``: small towers of ``image_size`` pixels input (tests run in seconds); otherwise
    ``CLIPConfig()``'s ViT-B/32 sizes with the tiny tokenizer (real FLOPs, short vocabulary).
    ``processor`` chooses how the preprocessing is saved, as checkpoints in the wild do:
    ``"image"`` (``preprocessor_config.json``, transformers 4 style), ``"combined"``
    (``CLIPProcessor.save_pretrained``: ``processor_config.json`` with the image processor
    nested, transformers 5 style) or ``"none"``.
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    directory = Path(directory)
    tokenizer = tiny_tokenizer()
    ids = {
        "vocab_size": len(tokenizer.get_vocab()),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if tiny:
        text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
        text |= {"num_attention_heads": 4, "max_position_embeddings": 77, **ids}
        vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
        vision |= {"num_attention_heads": 4, "image_size": image_size, "patch_size": 16}
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)
    else:
        config = CLIPConfig(text_config=ids)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    size = config.vision_config.image_size
    images = CLIPImageProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}
    )
    if processor == "image":
        images.save_pretrained(directory)
    elif processor == "combined":
        CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(directory)
    return directory
