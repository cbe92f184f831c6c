"""Task fixtures: the tasks compose rooms, so their tests use both rooms' fixtures.

The vision fixtures (tiny CLIP checkpoint, photos, an isolated home) and the advisor's tiny
DETR are the same ones those rooms' tests use, imported here rather than copied, and
``_vision_helpers`` (controlled embeddings) is put on the path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "vision"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_vision = _load("_vision_fixtures", TESTS / "vision" / "conftest.py")
_advisor = _load("_advisor_fixtures", TESTS / "advisor" / "conftest.py")

tiny_clip_dir = _vision.tiny_clip_dir
photos = _vision.photos
polymodal_home = _vision.polymodal_home
tiny_encoder = _vision.tiny_encoder
tiny_detr_dir = _advisor.tiny_detr_dir
