"""Mapping what a user writes to a detector's labels: pure text, no detector needed."""

from __future__ import annotations

import pytest

from polymodal.advisor.labelmap import map_label
from polymodal.errors import BadInputError

TINY_LABELS = {0: "N/A", 1: "person", 2: "car", 3: "dog", 4: "cat", 5: "traffic light"}


@pytest.mark.parametrize(
    ("noun", "label"),
    [
        ("people", "person"),
        ("automobiles", "car"),
        ("puppies", "dog"),
        ("kittens", "cat"),
        ("the dogs", "dog"),
        ("traffic lights", "traffic light"),
        ("police car", "car"),
    ],
)
def test_label_mapping(noun, label):
    assert map_label(noun, TINY_LABELS.values()) == label


def test_unknown_noun_lists_close_labels():
    with pytest.raises(BadInputError, match=r"no label for 'cart'\. Close labels: .*car"):
        map_label("cart", TINY_LABELS.values())
