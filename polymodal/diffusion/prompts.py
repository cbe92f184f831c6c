"""Prompts to text embeddings: long prompts in chunks, and A1111's ``(word:1.2)`` weighting.

CLIP's text encoder reads 77 tokens; diffusers alone cuts a longer prompt there and only logs
the dropped words. We chose the other answer the field offers: ``compel`` encodes a long
prompt as several 77-token chunks and concatenates them (what A1111 does too), so no word is
dropped. Compel also weights words; A1111's ``(word:1.2)`` is rewritten into compel's
``(word)1.2`` so prompts copied from A1111 mean the same here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from polymodal.diffusion.pipelines import quiet_libraries
from polymodal.errors import require

_A1111_WEIGHT = re.compile(r"\(([^():]+):\s*([0-9]*\.?[0-9]+)\s*\)")


@dataclass(frozen=True)
class Conditioning:
    """What the pipeline takes instead of prompt strings, and what to tell the user."""

    kwargs: dict[str, Any]
    notes: tuple[str, ...]


def to_compel(prompt: str) -> str:
    """A1111's ``(text:1.3)`` as compel's ``(text)1.3``; everything else unchanged."""
    return _A1111_WEIGHT.sub(lambda m: f"({m.group(1)}){m.group(2)}", prompt)


def token_count(tokenizer: Any, text: str) -> int:
    """Tokens of ``text`` without the start and end markers."""
    return len(tokenizer(text, truncation=False).input_ids) - 2


def encode(pipe: Any, prompt: str, negative: str) -> Conditioning:
    """The prompt and negative prompt as embeddings for ``pipe`` (SD 1.x/2.x or SDXL)."""
    with quiet_libraries():  # compel imports every diffusers pipeline it wraps
        require("compel", "generate")
        from compel import CompelForSD, CompelForSDXL

    tokenizer = pipe.tokenizer
    limit = tokenizer.model_max_length - 2
    notes = tuple(
        f"The {label} is {count} tokens, past the text encoder's {limit}: it was encoded in "
        f"{-(-count // limit)} chunks, so no words were dropped."
        for label, text in (("prompt", prompt), ("negative prompt", negative))
        if (count := token_count(tokenizer, text)) > limit
    )
    is_xl = hasattr(pipe, "text_encoder_2")
    compel = (CompelForSDXL if is_xl else CompelForSD)(pipe)
    conditioning = compel(to_compel(prompt), negative_prompt=to_compel(negative))
    kwargs: dict[str, Any] = {
        "prompt_embeds": conditioning.embeds,
        "negative_prompt_embeds": conditioning.negative_embeds,
    }
    if is_xl:
        kwargs["pooled_prompt_embeds"] = conditioning.pooled_embeds
        kwargs["negative_pooled_prompt_embeds"] = conditioning.negative_pooled_embeds
    return Conditioning(kwargs, notes)
