"""Reading an image's header for search: size and EXIF facts without decoding the pixels."""

from __future__ import annotations

from datetime import datetime

import pytest
from PIL import Image, PngImagePlugin

from polymodal.errors import BadInputError
from polymodal.media.image import read_header


def _never_load(self, *args, **kwargs):
    raise AssertionError("the pixels were decoded")


def test_a_png_header_is_read_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    Image.new("RGB", (640, 480), "teal").save(path)
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", _never_load)
    header = read_header(path)
    assert (header.width, header.height, header.taken_at, header.camera_make) == (
        640,
        480,
        None,
        None,
    )


def test_jpeg_exif_rotation_time_and_camera(tmp_path):
    path = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated a quarter turn when shown
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R6"
    exif[0x0132] = "2024:05:06 07:08:09"
    Image.new("RGB", (400, 300), "orange").save(path, exif=exif)
    header = read_header(path)
    assert (header.width, header.height) == (300, 400)
    assert (header.camera_make, header.camera_model) == ("Canon", "EOS R6")
    assert header.taken_at == datetime(2024, 5, 6, 7, 8, 9)


def test_a_file_that_is_not_an_image_is_one_sentence(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image at all")
    with pytest.raises(BadInputError, match="not an image file"):
        read_header(path)
