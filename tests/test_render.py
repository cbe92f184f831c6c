"""The one serialiser: the rules every result type relies on (each room tests its own types'
round trips beside them)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import ClassVar

import numpy as np

from polymodal import render


class Kind(Enum):
    EXACT = "exact"
    NEAR = "near"


@dataclass(frozen=True)
class Part:
    start: float
    label: str | None = None


@dataclass(frozen=True)
class Whole:
    path: Path
    kind: Kind
    parts: tuple[Part, ...]
    scores: dict[str, float]
    best: Part | None = None
    counts: tuple[int, int] = (0, 0)
    handle: object = field(default=None, metadata={"render": False}, compare=False)

    render_properties: ClassVar[tuple[str, ...]] = ("labels",)

    @property
    def labels(self) -> str:
        return ",".join(p.label or "?" for p in self.parts)


def _whole() -> Whole:
    return Whole(
        path=Path("/photos/a.jpg"),
        kind=Kind.NEAR,
        parts=(Part(0.5, "cat"), Part(1, None)),
        scores={"cat": 0.9},
        best=Part(0.5, "cat"),
        counts=(3, 4),
        handle=object(),
    )


def test_to_data_gives_plain_json_values_with_properties_and_without_hidden_fields():
    data = render.to_data(_whole())
    assert data == {
        "path": "/photos/a.jpg",
        "kind": "near",
        "parts": [{"start": 0.5, "label": "cat"}, {"start": 1, "label": None}],
        "scores": {"cat": 0.9},
        "best": {"start": 0.5, "label": "cat"},
        "counts": [3, 4],
        "labels": "cat,?",
    }
    assert json.loads(render.to_json(_whole())) == data


def test_from_data_round_trips_through_json():
    original = _whole()
    back = render.from_data(Whole, json.loads(render.to_json(original)))
    assert back == original
    assert isinstance(back.path, Path) and back.kind is Kind.NEAR
    assert isinstance(back.parts, tuple) and isinstance(back.parts[1].start, float)


def test_numpy_values_become_lists_and_come_back_as_float32_arrays():
    @dataclass(frozen=True)
    class Vectors:
        vectors: np.ndarray
        norm: float

    data = render.to_data(Vectors(np.eye(2, dtype=np.float32), np.float32(1.0)))
    assert data == {"vectors": [[1.0, 0.0], [0.0, 1.0]], "norm": 1.0}
    back = render.from_data(Vectors, data)
    assert back.vectors.dtype == np.float32 and np.array_equal(back.vectors, np.eye(2))


def test_non_ascii_text_is_kept_readable():
    assert render.to_json({"text": "Grüß Gott 你好"}) == '{\n  "text": "Grüß Gott 你好"\n}'


def test_unknown_keys_are_ignored_on_the_way_back():
    assert render.from_data(Part, {"start": 2, "label": "x", "extra": 1}) == Part(2.0, "x")
    assert dataclasses.is_dataclass(render.from_data(Part, {"start": 0}))
