"""``--screen``: generated images scored by the vision room's moderation (the tiny random CLIP,
real scores), the threshold set around the image's own score so the verdict is forced."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import polymodal
from polymodal.cli import _register, app
from polymodal.errors import BadInputError

FAST = {"steps": 3, "width": 64, "height": 64, "seed": 17}


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    from polymodal.vision.synthetic import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("tiny-clip"), tiny=True, seed=0)


def categories(path, threshold: float):
    """One category, "cats", whose threshold we choose; no packaged category takes part."""
    path.write_text(
        "replace_defaults = true\n"
        'neutral = ["a photo", "a blue house"]\n'
        "[categories.cats]\n"
        f"threshold = {threshold}\n"
        'prompts = ["a photo of a cat", "a red cat"]\n'
        'contrast = ["a photo of a dog"]\n'
    )
    return path


def roughness(image) -> float:
    """Mean difference between neighbouring pixels: what a blur takes away."""
    array = np.asarray(image.convert("RGB"), dtype=np.float64)
    return float(np.abs(np.diff(array, axis=0)).mean() + np.abs(np.diff(array, axis=1)).mean())


@pytest.fixture(scope="module")
def made(tiny_sd_dir, tmp_path_factory):
    """A generated image and its real "cats" score under the tiny CLIP."""
    return polymodal.generate("a cat", model=tiny_sd_dir, **FAST)


def real_score(made, tiny_clip_dir, tmp_path) -> float:
    path = polymodal.save_images(made, tmp_path / "plain.png").images[0].path
    verdict = polymodal.moderate(path, model=str(tiny_clip_dir),
                                 categories_file=categories(tmp_path / "c.toml", 0.5))  # fmt: skip
    (score,) = verdict.items[0].scores
    return score.score


def test_a_flagged_image_is_blurred_marked_and_saved(made, tiny_clip_dir, tmp_path):
    score = real_score(made, tiny_clip_dir, tmp_path)
    below = categories(tmp_path / "below.toml", max(1e-4, score - 0.01))
    screened = polymodal.screen_generation(made, model=str(tiny_clip_dir), categories_file=below)
    (image,) = screened.images
    original = made.images[0]
    assert image.screened == "flagged" and image.screened_categories == ("cats",)
    assert image.image.size == original.image.size
    assert roughness(image.image) < roughness(original.image) / 3, "not blurred strongly"
    assert image.parameters == original.parameters  # the seed stays: it can be re-created
    assert any("Screening flagged this image (cats)" in note for note in image.notes)
    data = polymodal.to_data(image)
    assert (data["screened"], data["screened_categories"]) == ("flagged", ["cats"])
    saved = polymodal.save_image(image, tmp_path / "flagged.png")
    info = polymodal.read_parameters(saved.path)
    assert info.extra["Screened"] == "flagged: cats" and 'Screened: "flagged: cats"' in info.raw
    assert np.array_equal(np.asarray(Image.open(saved.path)), np.asarray(image.image))


def test_an_image_under_the_threshold_passes_unchanged(made, tiny_clip_dir, tmp_path):
    score = real_score(made, tiny_clip_dir, tmp_path)
    assert score < 0.99  # room above it for a threshold that passes
    above = categories(tmp_path / "above.toml", score + 0.01)
    image = polymodal.screen_image(made.images[0], model=str(tiny_clip_dir), categories_file=above)
    assert image.screened == "passed" and image.screened_categories == ()
    assert np.array_equal(np.asarray(image.image), np.asarray(made.images[0].image))
    saved = polymodal.save_image(image, tmp_path / "passed.png")
    assert polymodal.read_parameters(saved.path).extra["Screened"] == "passed"


def test_unscreened_images_say_nothing_about_screening(made, tmp_path):
    saved = polymodal.save_image(made.images[0], tmp_path / "plain.png")
    assert "Screened" not in polymodal.read_parameters(saved.path).raw


def test_screen_from_the_shell(tiny_sd_dir, tiny_clip_dir, tmp_path, monkeypatch):
    _register()
    runner = CliRunner()
    monkeypatch.setenv("POLYMODAL_CLIP_MODEL", str(tiny_clip_dir))
    out = tmp_path / "out.png"
    flag_all = categories(tmp_path / "all.toml", 1e-4)
    args = ["generate", "a cat", "--seed", "2", "--steps", "2", "--size", "64x64",
            "--model", str(tiny_sd_dir), "-o", str(out), "--screen"]  # fmt: skip
    result = runner.invoke(app, [*args, "--screen-categories", str(flag_all)])
    assert result.exit_code == 0, result.output
    assert "FLAGGED (cats), blurred" in result.stdout and "Screening flagged" in result.stderr
    info = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert info["extra"]["Screened"] == "flagged: cats"
    out.unlink()
    missing = runner.invoke(app, [*args, "--screen-categories", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    assert not out.exists()


def test_a_bad_categories_file_is_one_sentence(made, tiny_clip_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[categories.cats]\nthreshold = 7\n")
    with pytest.raises(BadInputError, match="threshold 7 is not between 0 and 1"):
        polymodal.screen_image(made.images[0], model=str(tiny_clip_dir), categories_file=bad)
