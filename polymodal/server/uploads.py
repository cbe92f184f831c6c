"""Uploaded files onto the disk and judged by their bytes: the one place a request's file
touches the file system.

The bytes go to a fresh private folder under the system's temporary directory, as a file
named ``upload``: nothing the client sent (not its file name, not its suffix) becomes part of
a path, and the folder is removed when the work is done. The file's kind is judged by what
ffmpeg finds in it, never by the name or the declared content type, so ``notes.txt`` renamed
``song.mp3`` is still refused (415).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import polymodal
from polymodal.errors import BadInputError, PolymodalError
from polymodal.server.errors import UnsupportedMediaError

UPLOADED = "The uploaded file"


@contextmanager
def saved_upload(source: BinaryIO) -> Iterator[Path]:
    """``source`` (an upload's spooled file) copied to a private temporary file; refuses an
    empty upload. Blocking: call it from a worker thread."""
    with tempfile.TemporaryDirectory(prefix="polymodal-upload-") as folder:
        path = Path(folder) / "upload"
        source.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
        if path.stat().st_size == 0:
            raise BadInputError(f"{UPLOADED} is empty.", param="file")
        yield path


def audio_duration(path: Path) -> float:
    """Seconds of audio in the upload at ``path`` (0.0 when the container does not say), or
    a 415 when ffmpeg finds no audio in it (text, an image, a video without sound)."""
    try:
        duration = polymodal.probe_audio(path)
    except BadInputError as exc:
        raise UnsupportedMediaError(
            f"{UPLOADED} is not audio or video that ffmpeg can read "
            "(flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm).",
            param="file",
        ) from exc
    return duration or 0.0


@contextmanager
def upload_named_plainly(path: Path) -> Iterator[None]:
    """Library errors name the file they failed on; the client should read "The uploaded
    file", not the server's temporary path."""
    try:
        yield
    except PolymodalError as exc:
        message = str(exc)
        if str(path) in message:
            exc.args = (message.replace(str(path), UPLOADED),)
        raise
