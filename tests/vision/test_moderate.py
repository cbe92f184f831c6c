"""Moderation scoring from controlled embeddings, and the user categories file."""

from __future__ import annotations

import numpy as np
import pytest
from _vision_helpers import FakeClip, random_unit, touch_images

from polymodal.errors import BadInputError
from polymodal.vision.moderate import NOTICE, moderate
from polymodal.vision.moderation_config import load_categories

DIM = 256


def _image_like(*texts: str) -> np.ndarray:
    """An image vector close to the given prompts, far from the rest, and somewhat like "a photo".

    As with real CLIP, every photo matches the generic neutral prompt "a photo" moderately, so
    a category whose prompts fit nothing in the image loses to it.
    """
    vector = sum(random_unit(t, DIM) for t in texts) + 0.8 * random_unit("a photo", DIM)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def images(tmp_path):
    return touch_images(tmp_path / "imgs", ["holiday", "gun", "child", "child_gun", "tattoo"])


@pytest.fixture
def fake(monkeypatch):
    vectors = {
        "holiday": _image_like("a photo of a landscape"),
        "gun": _image_like("a photo of a person pointing a gun"),
        "child": _image_like("a photo of a young boy"),
        "child_gun": _image_like("a photo of a young boy", "a photo of a person pointing a gun"),
        "tattoo": _image_like("a photo of a tattoo"),
    }
    clip = FakeClip(images=vectors, text_rule=lambda t: random_unit(t, DIM))
    return clip.install(monkeypatch)


def _by_path(result):
    return {item.path.rsplit("/", 1)[-1].split(".")[0]: item for item in result}


def test_flags_what_the_image_shows_and_nothing_else(fake, images):
    result = _by_path(moderate([images["holiday"], images["gun"]]))
    assert not result["holiday"].flagged and result["holiday"].flagged_categories == ()
    gun = result["gun"]
    assert gun.flagged_categories == ("weapons",)
    weapons = next(s for s in gun.scores if s.category == "weapons")
    assert weapons.score > 0.9 and weapons.best_prompt == "a photo of a person pointing a gun"
    assert all(s.score < 0.1 for s in gun.scores if s.category != "weapons")


def test_scores_are_softmax_shares_against_contrasts(fake, images):
    """Check one score by hand: own prompts vs contrast and neutral prompts, logit scale 100."""
    config = load_categories()
    weapons = next(c for c in config.categories if c.name == "weapons")
    image = fake.images["gun"]
    own = np.array([image @ fake.text_vector(t) for t in weapons.prompts])
    rest = [t for t in dict.fromkeys([*weapons.contrast, *config.neutral])]
    other = np.array([image @ fake.text_vector(t) for t in rest])
    logits = 100 * np.concatenate([own, other])
    weights = np.exp(logits - logits.max())
    expected = weights[: len(own)].sum() / weights.sum()
    item = moderate([images["gun"]]).items[0]
    got = next(s for s in item.scores if s.category == "weapons")
    assert got.score == pytest.approx(expected, abs=1e-4)
    assert got.threshold == weapons.threshold


def test_a_child_alone_is_not_flagged_a_child_with_a_weapon_is(fake, images):
    result = _by_path(moderate([images["child"], images["child_gun"]]))
    assert not result["child"].flagged
    assert "minors_at_risk" in result["child_gun"].flagged_categories
    child_score = next(s for s in result["child"].scores if s.category == "minors_at_risk")
    assert child_score.score < 0.1  # its own score is high, its partners' are not


def test_result_carries_the_screening_notice_and_failures(fake, images, tmp_path):
    broken = tmp_path / "imgs" / "broken.png"
    broken.write_text("not an image")
    result = moderate([images["gun"], broken])
    assert result.notice == NOTICE and "screening aid" in NOTICE.lower()
    assert [f.path for f in result.failures] == [str(broken)]
    assert len(result) == 1 and len(result.flagged) == 1
    assert result.categories[0] == "sexual" and "minors_at_risk" in result.categories


def test_user_file_overrides_disables_and_adds(fake, images, tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text(
        """
[categories.weapons]
enabled = false

[categories.tattoos]
description = "Tattoos, for a client who must not show them"
threshold = 0.5
prompts = ["a photo of a tattoo"]
contrast = ["a photo of bare skin"]
"""
    )
    result = _by_path(moderate([images["gun"], images["tattoo"]], categories_file=user))
    assert "weapons" not in [s.category for s in result["gun"].scores]
    assert result["tattoo"].flagged_categories == ("tattoos",)
    assert "sexual" in [s.category for s in result["tattoo"].scores]


def test_user_file_can_replace_the_defaults(tmp_path):
    user = tmp_path / "only.toml"
    user.write_text(
        'replace_defaults = true\nneutral = ["a photo"]\n'
        '[categories.cars]\nthreshold = 0.7\nprompts = ["a photo of a car"]\n'
    )
    config = load_categories(user)
    assert [c.name for c in config.categories] == ["cars"]
    assert config.neutral == ("a photo",) and config.categories[0].threshold == 0.7


@pytest.mark.parametrize(
    "text, message",
    [
        ("[categories.weapons]\nthreshhold = 0.5\n", "unknown keys: threshhold"),
        ("[categories.weapons]\nthreshold = 3\n", "not between 0 and 1"),
        ("[categories.weapons]\nprompts = []\n", "no prompts"),
        ("[categories.new]\ncontrast = ['x']\n", "no prompts"),
        ("[categories.x]\nprompts = ['a']\nwith_any = ['nope']\n", "with_any"),
        ("colour = 'red'\n", "unknown top-level keys"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_mistakes_in_a_user_file_name_the_file(tmp_path, text, message):
    user = tmp_path / "bad.toml"
    user.write_text(text)
    with pytest.raises(BadInputError, match=message) as error:
        load_categories(user)
    assert "bad.toml" in str(error.value)


def test_missing_categories_file(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_categories(tmp_path / "nope.toml")


def test_turning_off_a_partner_narrows_combinations(tmp_path):
    user = tmp_path / "partners.toml"
    user.write_text("[categories.weapons]\nenabled = false\n")
    minors = next(c for c in load_categories(user).categories if c.name == "minors_at_risk")
    assert "weapons" not in minors.with_any and "sexual" in minors.with_any
    names = ["sexual", "violence", "weapons", "drugs", "self_harm"]
    user.write_text("".join(f"[categories.{n}]\nenabled = false\n" for n in names))
    remaining = [c.name for c in load_categories(user).categories]
    assert remaining == ["hate_symbols"]  # a child alone is never a category of its own
