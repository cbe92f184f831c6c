"""polymodal: CLIP, Whisper and Stable Diffusion as dependable local tools.

The public API. Names are imported lazily so ``import polymodal`` stays fast and a missing
optional extra only matters when its feature is used::

    import polymodal
    transcript = polymodal.transcribe("meeting.mp3", word_timestamps=True)
    result = polymodal.classify(["cat.jpg"], labels=["cat", "dog"])
    check = polymodal.check_query("three red cars left of a truck")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # catalogue and errors
    "list_models": "polymodal.catalog",
    "resolve_model": "polymodal.catalog",
    "PolymodalError": "polymodal.errors",
    "BadInputError": "polymodal.errors",
    "ModelUnavailableError": "polymodal.errors",
    # speech
    "transcribe": "polymodal.speech",
    "transcribe_folder": "polymodal.speech",
    "Transcriber": "polymodal.speech",
    "diarize": "polymodal.speech",
    "SpeakerOptions": "polymodal.speech",
    # vision
    "embed_images": "polymodal.vision",
    "embed_texts": "polymodal.vision",
    "classify": "polymodal.vision",
    "similarity": "polymodal.vision",
    "rank_similar": "polymodal.vision",
    "find_duplicates": "polymodal.vision",
    "moderate": "polymodal.vision",
    # advisor
    "check_query": "polymodal.advisor",
    "count_objects": "polymodal.advisor",
    "diagnose": "polymodal.advisor",
}

_RENAMED = {"resolve_model": "resolve"}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'polymodal' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = getattr(module, _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
