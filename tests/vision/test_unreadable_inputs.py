"""A task whose every image is unreadable raises one sentence naming the input; a task with
some readable images completes and lists the rest as failures. The CLI and the server both rely
on the library for this rule (exit 2 / HTTP 400)."""

from __future__ import annotations

import pytest

import polymodal
from polymodal.errors import BadInputError

BAD = ("corrupt", "not_image", "empty")


def _bad(bad_files):
    return [str(bad_files[kind]) for kind in BAD]


@pytest.mark.parametrize("task", ["classify", "moderate", "find_duplicates"])
def test_every_image_unreadable_is_a_bad_input(task, bad_files, tiny_encoder):
    calls = {
        "classify": lambda paths: polymodal.classify(
            paths, ["a cat", "a dog"], model=tiny_encoder, route=False
        ),
        "moderate": lambda paths: polymodal.moderate(paths, model=tiny_encoder),
        "find_duplicates": lambda paths: polymodal.find_duplicates(paths, model=tiny_encoder),
    }
    with pytest.raises(BadInputError, match=r"None of the 3 images could be read") as error:
        calls[task](_bad(bad_files))
    assert error.value.param == "images"


def test_some_readable_images_complete_with_the_rest_listed(bad_files, tiny_encoder):
    paths = [str(bad_files["corrupt"]), str(bad_files["corrupt"].parent / "good.jpg")]
    result = polymodal.classify(paths, ["a cat", "a dog"], model=tiny_encoder, route=False)
    assert [item.path for item in result.items] == [paths[1]]
    assert [failure.path for failure in result.failures] == [paths[0]]
