"""Image decoding: every format and mode becomes the RGB picture a person sees, or a clear error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from polymodal.errors import BadInputError, TooLargeError
from polymodal.media import image as image_module
from polymodal.media.image import content_hash, find_images, load_image


def _pattern(width: int = 120, height: int = 80) -> np.ndarray:
    """Left half red, right half blue: easy to check after any conversion."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (220, 30, 30)
    array[:, width // 2 :] = (30, 30, 220)
    return array


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".tiff", ".gif"])
def test_formats_decode_to_rgb(tmp_path, suffix):
    path = tmp_path / f"pattern{suffix}"
    Image.fromarray(_pattern()).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (120, 80)
    pixels = np.asarray(image).astype(int)
    assert pixels[40, 10, 0] > 150 and pixels[40, 10, 2] < 100  # red on the left
    assert pixels[40, 110, 2] > 150 and pixels[40, 110, 0] < 100  # blue on the right


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = load_image(path)
    assert np.asarray(image)[15, 20].tolist() == [255, 0, 0]


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    Image.fromarray(_pattern(120, 80)).save(path, exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (80, 120)  # portrait, as shown
    pixels = np.asarray(image).astype(int)
    assert pixels[10, 40, 0] > 150  # the red left half is now on top
    assert pixels[110, 40, 2] > 150


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[:, :10] = (0, 0, 0, 255)  # opaque black, then fully transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = np.asarray(load_image(path))
    assert pixels[5, 2].tolist() == [0, 0, 0]
    assert pixels[5, 15].tolist() == [255, 255, 255]


def test_palette_with_transparency_and_grayscale_modes(tmp_path):
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "p.png", transparency=0)
    pixels = np.asarray(load_image(tmp_path / "p.png"))
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[5, 5].tolist() == [10, 200, 10]
    Image.new("L", (8, 8), 77).save(tmp_path / "gray.png")
    assert np.asarray(load_image(tmp_path / "gray.png"))[0, 0].tolist() == [77, 77, 77]
    Image.new("LA", (8, 8), (77, 0)).save(tmp_path / "gray_alpha.png")
    assert np.asarray(load_image(tmp_path / "gray_alpha.png"))[0, 0].tolist() == [255] * 3


def test_cmyk_jpeg_converts_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(_pattern()).convert("CMYK").save(path, quality=95)
    pixels = np.asarray(load_image(path)).astype(int)
    assert pixels[40, 10, 0] > 150 and pixels[40, 10, 2] < 100


def test_sixteen_bit_png_scales_to_eight_bit(tmp_path):
    array = np.zeros((10, 20), dtype=np.uint16)
    array[:, 10:] = 65535
    array[:, :10] = 32896  # 128 * 257
    path = tmp_path / "deep.png"
    Image.fromarray(array).save(path)
    pixels = np.asarray(load_image(path))
    assert pixels[0, 0].tolist() == [128, 128, 128]
    assert pixels[0, 15].tolist() == [255, 255, 255]


def test_draft_decodes_large_jpegs_smaller_but_not_below_min_side(big_jpeg):
    full = load_image(big_jpeg)
    small = load_image(big_jpeg, min_side=224)
    assert full.size == (2000, 1500)
    assert min(small.size) >= 224 and small.size[0] < 2000
    assert small.size[0] / small.size[1] == pytest.approx(4 / 3, rel=0.01)
    # the same picture: compare both at the small size
    reference = np.asarray(full.resize(small.size, Image.Resampling.BICUBIC)).astype(float)
    assert np.mean(np.abs(reference - np.asarray(small))) < 6


def test_draft_never_shrinks_png_or_small_images(tmp_path, photos):
    assert load_image(photos["coffee"], min_side=224).size == Image.open(photos["coffee"]).size
    assert load_image(photos["astronaut"], min_side=400).size == (512, 512)


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("corrupt", BadInputError, "corrupt"),
        ("truncated", BadInputError, "truncated"),
        ("not_image", BadInputError, "not an image"),
        ("empty", BadInputError, "empty"),
        ("bomb", TooLargeError, "decompression bomb"),
        ("missing", BadInputError, "does not exist"),
    ],
)
def test_bad_inputs_raise_a_sentence_naming_the_file(bad_files, kind, error, words):
    path = bad_files[kind]
    with pytest.raises(error) as caught:
        load_image(path)
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_pixel_limit_is_configurable(photos):
    with pytest.raises(TooLargeError, match="over the limit"):
        load_image(photos["astronaut"], max_pixels=100_000)


def test_a_directory_is_not_an_image(tmp_path):
    with pytest.raises(BadInputError, match="is a directory"):
        load_image(tmp_path)


def test_content_hash_follows_bytes_not_path(tmp_path, photos):
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(photos["astronaut"].read_bytes())
    assert content_hash(copy) == content_hash(photos["astronaut"])
    assert content_hash(photos["coffee"]) != content_hash(photos["astronaut"])
    with pytest.raises(BadInputError):
        content_hash(tmp_path / "nope.jpg")


def test_find_images_walks_folders_and_keeps_named_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b.jpg", "sub/a.PNG", ".hidden/c.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = find_images([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["b.jpg", "sub/a.PNG"]
    assert find_images([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
    with pytest.raises(BadInputError, match="no such file or folder") as missing:
        find_images([tmp_path / "gone"])
    assert missing.value.param == "images"
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="contains no image files"):
        find_images(tmp_path / "empty")


# --- HEIC/HEIF (pillow-heif, the ``heic`` extra; in ``dev`` so CI runs these) -------------------


def _save_heic(array: np.ndarray, path):
    """Write a HEIC with pillow-heif's own writer, so PIL never had its opener registered here."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(Image.fromarray(array)).save(path)  # default quality
    return path


@pytest.fixture(scope="module")
def astronaut_heic(tmp_path_factory):
    from skimage import data

    return _save_heic(data.astronaut(), tmp_path_factory.mktemp("heic") / "astronaut.heic")


@pytest.fixture
def without_pillow_heif(monkeypatch):
    """As if pillow-heif were not installed: its import fails and PIL has no HEIF opener."""
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # ``import pillow_heif`` raises
    monkeypatch.setattr(image_module, "_heif_ready", None)
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
    monkeypatch.delitem(Image.OPEN, "HEIF", raising=False)


def test_heic_decodes_close_to_the_source(astronaut_heic):
    from skimage import data

    image = load_image(astronaut_heic)
    assert image.mode == "RGB" and image.size == (512, 512)
    difference = np.abs(np.asarray(image).astype(float) - data.astronaut())
    assert difference.mean() < 4  # measured 2.7 (HEVC at pillow-heif's default quality)


def test_heic_is_recognised_by_content_not_name(tmp_path, astronaut_heic):
    renamed = tmp_path / "from_phone.jpg"
    renamed.write_bytes(astronaut_heic.read_bytes())
    assert load_image(renamed).size == (512, 512)


def test_truncated_heic_is_reported_as_corrupt(tmp_path, astronaut_heic):
    path = tmp_path / "half.heic"
    path.write_bytes(astronaut_heic.read_bytes()[:10_000])
    with pytest.raises(BadInputError) as caught:
        load_image(path)
    message = str(caught.value)
    assert str(path) in message and "corrupt or truncated" in message and "\n" not in message


def test_heic_without_pillow_heif_says_what_to_install(
    tmp_path, astronaut_heic, without_pillow_heif
):
    with pytest.raises(BadInputError) as caught:
        load_image(astronaut_heic)
    message = str(caught.value)
    assert str(astronaut_heic) in message
    assert "pip install pillow-heif" in message and "polymodal[heic]" in message
    not_heic = tmp_path / "notes.heic"
    not_heic.write_text("a shopping list with a photo's name\n")
    with pytest.raises(BadInputError, match="not an image"):
        load_image(not_heic)


def test_heic_embeds_like_the_jpeg_and_png_of_the_same_photo(
    tmp_path, tiny_clip_dir, polymodal_home, photos, astronaut_heic
):
    from skimage import data

    from polymodal.vision import embed_images

    png = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(png)
    paths = [astronaut_heic, photos["astronaut"], png, photos["coffee"], photos["chelsea"]]
    result = embed_images(paths, model=str(tiny_clip_dir), cache=False)
    assert not result.failures
    heic, jpeg, png_vector, *others = result.vectors
    # measured on the tiny random CLIP: 0.99996 to the JPEG, 0.999998 to the PNG; the nearest
    # other photo (chelsea) 0.94, so the bound tells the same picture from a different one
    assert float(heic @ jpeg) > 0.999 and float(heic @ png_vector) > 0.999
    assert all(float(heic @ other) < 0.99 for other in others)
