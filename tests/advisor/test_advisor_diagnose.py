"""The text half of a diagnosis: rephrasings (the scoring is tested in tests/tasks)."""

from __future__ import annotations

from polymodal.advisor.diagnosis import competitor_labels, rephrasings


def test_rephrasings_cover_templates_and_number():
    variants = rephrasings("a dog")
    assert "a dog" not in variants
    assert {"a photo of a dog", "a picture of a dog", "a photo of dogs"} <= set(variants)
    assert "a photo of a dog" in rephrasings("dogs")


def test_competitors_put_the_callers_first_and_drop_the_query():
    labels = competitor_labels("a photo of a dog", ["wolf", " ", "wolf"])
    assert labels[0] == "wolf" and labels.count("wolf") == 1
    assert "dog" not in labels and "cat" in labels
