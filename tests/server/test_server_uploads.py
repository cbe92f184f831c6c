"""Uploads onto the disk: a private file whose path holds nothing the client sent, removed
after use, judged by its bytes, and never named to the client by its temporary path."""

from __future__ import annotations

import io

import pytest

from polymodal.errors import BadInputError
from polymodal.server.errors import UnsupportedMediaError
from polymodal.server.openai.audio import SpeechRequest
from polymodal.server.uploads import audio_duration, saved_upload, upload_named_plainly


def test_an_upload_is_a_private_file_removed_after_use():
    with saved_upload(io.BytesIO(b"RIFF....")) as path:
        assert path.name == "upload" and path.read_bytes() == b"RIFF...."
        assert path.parent.name.startswith("polymodal-upload-")
    assert not path.exists() and not path.parent.exists()


def test_an_empty_upload_is_refused():
    with pytest.raises(BadInputError, match="empty") as caught, saved_upload(io.BytesIO()):
        pass
    assert caught.value.param == "file"


def test_text_is_not_audio_whatever_it_is_called():
    text = io.BytesIO(b"just words\n" * 100)
    with saved_upload(text) as path, pytest.raises(UnsupportedMediaError) as caught:
        audio_duration(path)
    assert caught.value.http_status == 415 and str(path) not in str(caught.value)


def test_the_temporary_path_never_reaches_the_client(tmp_path):
    path = tmp_path / "upload"
    with pytest.raises(BadInputError) as caught, upload_named_plainly(path):
        raise BadInputError(f"{path} is corrupt: its audio cannot be decoded.")
    assert str(caught.value) == "The uploaded file is corrupt: its audio cannot be decoded."


@pytest.mark.parametrize(
    ("temperature", "ladder"),
    [(0.0, (0.2, 0.4, 0.6, 0.8, 1.0)), (0.5, (0.5, 0.6, 0.8, 1.0)), (1.0, (1.0,))],
)
def test_temperature_starts_the_fallback_ladder(temperature, ladder):
    request = SpeechRequest("transcribe", "whisper-1", None, None, temperature, "json", ())
    assert request.options().temperatures == ladder
