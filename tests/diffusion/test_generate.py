"""Text-to-image, img2img and inpainting end to end on the tiny pipeline, loaded by its path."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

import polymodal
from polymodal.errors import BadInputError, CancelledError, ModelUnavailableError, TooLargeError

FAST = {"steps": 3, "width": 64, "height": 64}


def pixels(generated) -> np.ndarray:
    return np.asarray(generated.image.convert("RGB"), dtype=np.int16)


def test_txt2img_records_every_parameter_and_the_image(tiny_sd_dir):
    result = polymodal.generate("a red house", seed=7, model=tiny_sd_dir, **FAST)
    (image,) = result.images
    assert image.image.size == (64, 64)
    p = image.parameters
    assert (p.prompt, p.seed, p.steps, p.width, p.height) == ("a red house", 7, 3, 64, 64)
    assert p.scheduler == "DPM++ 2M Karras" and p.guidance == 7.0
    assert p.negative == polymodal.DEFAULT_NEGATIVE
    assert p.model == str(tiny_sd_dir.resolve()) and p.model_name == "tiny-sd"
    assert len(p.model_hash) == 10 and p.mode == "txt2img"
    assert image.timings.steps == 3 and image.timings.step_s > 0
    data = polymodal.to_data(result)
    assert data["seeds"] == [7] and "image" not in data["images"][0]
    assert polymodal.from_data(type(result), data) == result


def test_same_seed_same_pixels_other_seed_other_pixels(tiny_sd_dir):
    first = polymodal.generate("a cat", seed=11, model=tiny_sd_dir, **FAST).images[0]
    again = polymodal.generate("a cat", seed=11, model=tiny_sd_dir, **FAST).images[0]
    other = polymodal.generate("a cat", seed=12, model=tiny_sd_dir, **FAST).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert np.abs(pixels(first) - pixels(other)).mean() > 1


def test_n_without_seed_records_distinct_seeds_that_reproduce(tiny_sd_dir):
    result = polymodal.generate("a dog", n=3, model=tiny_sd_dir, **FAST)
    assert len(set(result.seeds)) == 3
    second = result.images[1]
    alone = polymodal.generate("a dog", seed=second.parameters.seed, model=tiny_sd_dir, **FAST)
    assert np.array_equal(pixels(second), pixels(alone.images[0]))


def test_n_with_a_seed_counts_up_from_it(tiny_sd_dir):
    result = polymodal.generate("a dog", n=2, seed=100, model=tiny_sd_dir, **FAST)
    assert result.seeds == [100, 101]


def test_empty_negative_turns_the_default_off(tiny_sd_dir):
    default = polymodal.generate("a cat", seed=3, model=tiny_sd_dir, **FAST).images[0]
    none = polymodal.generate("a cat", seed=3, negative="", model=tiny_sd_dir, **FAST).images[0]
    assert none.parameters.negative == ""
    assert not np.array_equal(pixels(default), pixels(none))


@pytest.mark.parametrize("name", ["Euler a", "DDIM", "UniPC", "LCM", "PNDM", "dpmpp_2m"])
def test_schedulers_by_their_user_names_run(tiny_sd_dir, name):
    result = polymodal.generate("a cat", seed=1, scheduler=name, model=tiny_sd_dir, **FAST)
    assert result.images[0].image.size == (64, 64)


def test_long_prompts_are_encoded_whole(tiny_sd_dir):
    # Unmerged words tokenize to one token per letter: this prefix alone is past 77 tokens.
    prefix = "zebra quilt " * 10
    cat = polymodal.generate(prefix + "cat", seed=5, model=tiny_sd_dir, **FAST).images[0]
    dog = polymodal.generate(prefix + "dog", seed=5, model=tiny_sd_dir, **FAST).images[0]
    assert any("chunks" in note for note in cat.notes)
    assert not np.array_equal(pixels(cat), pixels(dog)), "words past 77 tokens were dropped"


def test_progress_counts_every_step_and_cancel_stops_between_steps(tiny_sd_dir):
    reports = []
    polymodal.generate("a cat", seed=1, n=2, model=tiny_sd_dir, progress=reports.append, **FAST)
    assert [r.done for r in reports] == [0, 1, 2, 3, 4, 5, 6]
    assert {r.total for r in reports} == {6} and reports[0].stage == "generate"

    token = polymodal.CancelToken()

    def cancel_after_two(report):
        if report.done == 2:
            token.cancel("test")

    with pytest.raises(CancelledError):
        polymodal.generate(
            "a cat", seed=1, model=tiny_sd_dir, progress=cancel_after_two, cancel=token, **FAST
        )


def test_img2img_keeps_the_init_size_and_depends_on_it(tiny_sd_dir, photo):
    made = polymodal.generate("a cat", seed=2, init=photo, strength=0.5, steps=8, model=tiny_sd_dir)
    image = made.images[0]
    assert image.image.size == (64, 64)
    assert image.parameters.mode == "img2img" and image.parameters.strength == 0.5
    assert image.timings.steps == 4  # 8 steps at strength 0.5
    flipped = photo.with_name("flipped.png")
    Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped)
    other = polymodal.generate(
        "a cat", seed=2, init=flipped, strength=0.5, steps=8, model=tiny_sd_dir
    )
    assert not np.array_equal(pixels(image), pixels(other.images[0]))


def test_inpainting_keeps_unmasked_pixels_exactly(tiny_sd_dir, photo, mask):
    made = polymodal.generate(
        "a cat", seed=4, init=photo, mask=mask, strength=1.0, model=tiny_sd_dir, steps=4
    )
    out = pixels(made.images[0])
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    assert np.array_equal(out[:, :32], original[:, :32])
    assert np.abs(out[:, 32:] - original[:, 32:]).mean() > 5
    assert made.images[0].parameters.mode == "inpaint"


def test_a_size_too_large_for_memory_names_the_largest_that_fits(tiny_sd_dir, monkeypatch):
    from polymodal.diffusion import memory

    monkeypatch.setattr(memory, "free_memory_mb", lambda: 1536.0)
    with pytest.raises(TooLargeError) as caught:
        polymodal.generate("a cat", width=1024, height=768, steps=1, model=tiny_sd_dir)
    message = str(caught.value)
    assert message.startswith("A 1024x768 image needs about 3,072 MB and 1,536 MB are free")
    w, h = map(int, re.search(r"fits is (\d+)x(\d+)\.$", message).groups())
    assert abs(w / h - 1024 / 768) < 0.05
    assert memory.needed_mb(w, h) + memory.HEADROOM_MB <= 1536.0
    assert memory.needed_mb(w + 8, h + 8) + memory.HEADROOM_MB > 1536.0


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"prompt": "  "}, BadInputError, "prompt is empty"),
        ({"width": 65, "height": 64}, BadInputError, "not a multiple of 8"),
        ({"width": 8192, "height": 64}, BadInputError, "outside 64-4096"),
        ({"scheduler": "Eulr b"}, BadInputError, "Known schedulers: DPM++ 2M,"),
        ({"model": "/nowhere/model.safetensors"}, ModelUnavailableError, "no such checkpoint"),
        ({"model": "sd-1.5"}, ModelUnavailableError, "not available offline"),
    ],
)
def test_bad_input_gets_one_sentence(tiny_sd_dir, kwargs, error, words):
    call = {"prompt": "a cat", "steps": 1, "model": tiny_sd_dir} | kwargs
    with pytest.raises(error) as caught:
        polymodal.generate(call.pop("prompt"), **call)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_init_and_mask_get_one_sentence(tiny_sd_dir, photo, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    with pytest.raises(BadInputError, match=r"notes\.png"):
        polymodal.generate("a cat", init=notes, model=tiny_sd_dir, steps=1)
    small = tmp_path / "small-mask.png"
    Image.new("L", (32, 32), 255).save(small)
    with pytest.raises(BadInputError, match="mask is 32x32 but the image is 64x64"):
        polymodal.generate("a cat", init=photo, mask=small, model=tiny_sd_dir, steps=1)
    odd = tmp_path / "odd.png"
    Image.new("RGB", (70, 64)).save(odd)
    with pytest.raises(BadInputError, match="width 70 is not a multiple of 8: try 64"):
        polymodal.generate("a cat", init=odd, model=tiny_sd_dir, steps=1)


def test_a_folder_that_is_not_a_diffusers_model_gets_a_sentence(tmp_path):
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelUnavailableError, match=r"no model_index\.json"):
        polymodal.generate("a cat", model=tmp_path / "empty-model", steps=1)


def test_a_single_checkpoint_file_loads_offline_with_a_local_config(tiny_sd_dir, tiny_sd_file):
    folder = polymodal.generate("a cat", seed=8, model=tiny_sd_dir, **FAST).images[0]
    single = polymodal.generate(
        "a cat", seed=8, model=tiny_sd_file, config=tiny_sd_dir, **FAST
    ).images[0]
    assert np.array_equal(pixels(folder), pixels(single))
    assert single.parameters.model_name == "tiny-ckpt"
    assert single.parameters.model_hash != folder.parameters.model_hash


def test_a_checkpoint_without_its_config_offline_gets_a_sentence(tiny_sd_file, tmp_path):
    with pytest.raises(ModelUnavailableError, match="needs its model configuration") as caught:
        polymodal.generate("a cat", model=tiny_sd_file, steps=1)
    assert caught.value.param == "config"
    other = tmp_path / "weights.bin"
    other.write_bytes(b"0" * 64)
    with pytest.raises(ModelUnavailableError, match="is not a Stable Diffusion checkpoint"):
        polymodal.generate("a cat", model=other, steps=1)


def test_an_inpainting_model_inpaints_and_says_what_it_needs_otherwise(tmp_path, photo, mask):
    from tiny_pipelines import build_tiny_pipeline

    folder = tmp_path / "tiny-inpainting"
    build_tiny_pipeline(in_channels=9).save_pretrained(folder)
    made = polymodal.generate("a cat", seed=2, init=photo, mask=mask, strength=1.0, steps=3,
                              model=folder)  # fmt: skip
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    assert np.array_equal(pixels(made.images[0])[:, :32], original[:, :32])
    with pytest.raises(BadInputError, match="is an inpainting model: give it an init image"):
        polymodal.generate("a cat", model=folder, **FAST)
