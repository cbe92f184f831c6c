"""Uploaded images onto the disk, judged by their bytes: what every image route shares.

An image arrives as a multipart file or as a ``data:`` URL (OpenAI's ``image_url``). Either
way its bytes go to a fresh private folder under the system's temporary directory, as
``image-1``, ``image-2`` ...: nothing the client sent becomes part of a path, and the folder
is removed when the work is done. Links (``http://``, ``https://``, anything but ``data:``)
are refused: the server fetches nothing on a client's behalf.

Each file is sniffed before a model sees it, from its header (PIL's ``Image.open``, which
decodes nothing): bytes in no image format we read are a 415 (whatever the name or the
declared type); a header that declares more pixels than the library decodes
(:data:`polymodal.MAX_IMAGE_PIXELS`, a decompression bomb) is a 413. A file whose header is
fine but whose data is cut short fails in the task's decoder: the task lists it in
``failures``, and a request where no image could be read is a 400.

Results name the images as the client did (the upload's file name, else ``image-N``), never
by the server's temporary path: :func:`client_named` rewrites the paths in a result's data.
"""

from __future__ import annotations

import base64
import binascii
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError

import polymodal
from polymodal.errors import BadInputError, PolymodalError, TooLargeError
from polymodal.server.errors import UnsupportedMediaError

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ImageSource:
    """One image as the request carried it: an upload's file, or a data URL's bytes."""

    name: str
    file: BinaryIO | None = None
    data: bytes | None = None


def data_url_bytes(url: str, param: str) -> bytes:
    """The bytes of a ``data:[type][;base64],...`` URL; anything else is refused with a
    sentence (the server never fetches a link)."""
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme in ("http", "https"):
        raise BadInputError(
            "This server fetches nothing on a client's behalf: send the image inline as a "
            "data URL (data:image/png;base64,...), not a link.",
            param=param,
        )
    if scheme != "data" or "," not in url:
        raise BadInputError(
            "An image URL must be a data URL (data:image/png;base64,...).", param=param
        )
    header, _, payload = url.partition(",")
    if not header.lower().endswith(";base64"):
        raise BadInputError(
            "The data URL must be base64-encoded (data:image/png;base64,...).", param=param
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError("The data URL's base64 payload is not valid.", param=param) from None


def _bomb(name: str, param: str) -> TooLargeError:
    limit = polymodal.MAX_IMAGE_PIXELS / 1e6
    return TooLargeError(
        f"The image '{name}' declares more than {limit:.0f} megapixels: too large to decode "
        "safely (possibly a decompression bomb).",
        param=param,
    )


def _declared_pixels(path: Path) -> int | None:
    """Width x height from the header alone (PIL's ``open`` decodes nothing; data cut short is
    the decoder's to find later); ``None`` past PIL's own bomb limit; 0 when PIL knows no
    such format."""
    try:
        with Image.open(path) as image:
            return image.size[0] * image.size[1]
    except Image.DecompressionBombError:
        return None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return 0


def sniff_image(path: Path, name: str, param: str) -> None:
    """Refuse what is not an image (415) and decompression bombs (413), by the bytes alone. A
    format PIL does not know by itself (HEIC) is left to the library's decoder to judge."""
    limit = polymodal.MAX_IMAGE_PIXELS  # (importing the decoder quiets PIL's bomb warning)
    pixels = _declared_pixels(path)
    if pixels is None or pixels > limit:
        raise _bomb(name, param)
    if pixels:
        return
    try:
        polymodal.load_image(path)
    except TooLargeError as exc:
        raise _bomb(name, param) from exc
    except BadInputError as exc:
        raise UnsupportedMediaError(
            f"The upload '{name}' is not an image in a format this server reads "
            "(JPEG, PNG, WebP, GIF, BMP, TIFF).",
            param=param,
        ) from exc


def _write(source: ImageSource, path: Path, param: str) -> None:
    if source.data is not None:
        path.write_bytes(source.data)
    else:
        assert source.file is not None
        source.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(source.file, out, _CHUNK)
    if path.stat().st_size == 0:
        raise BadInputError(f"The image '{source.name}' is empty.", param=param)


@contextmanager
def saved_images(sources: Sequence[ImageSource], param: str) -> Iterator[dict[str, str]]:
    """Each image written to a private temporary file and sniffed; yields temporary path ->
    the client's name, in request order. A library error raised inside names the images as
    the client did. Blocking: call it from a worker thread."""
    if not sources:
        raise BadInputError("Send at least one image.", param=param)
    with tempfile.TemporaryDirectory(prefix="polymodal-images-") as folder:
        names: dict[str, str] = {}
        try:
            for index, source in enumerate(sources, start=1):
                path = Path(folder) / f"image-{index}"
                _write(source, path, param)
                sniff_image(path, source.name, param)
                names[str(path)] = source.name
            yield names
        except PolymodalError as exc:  # the library's sentence names the temporary file
            exc.args = (client_named(str(exc), names),)
            raise


def upload_sources(uploads: Sequence[Any]) -> list[ImageSource]:
    """FastAPI ``UploadFile``\\ s as sources, named by their file names (else ``image-N``)."""
    return [
        ImageSource(_plain_name(upload.filename, index), file=upload.file)
        for index, upload in enumerate(uploads, start=1)
    ]


def _plain_name(filename: str | None, index: int) -> str:
    """The client's file name for display only (its last part, never used as a path)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or f"image-{index}"


def client_named(data: Any, names: dict[str, str]) -> Any:
    """``data`` (a result's :func:`polymodal.to_data`) with every temporary path, wherever it
    appears in a string (a path field, a failure's sentence), replaced by the client's name."""
    if isinstance(data, str):
        for path, name in sorted(names.items(), key=lambda item: -len(item[0])):  # image-10 first
            if path in data:
                data = data.replace(path, name)
        return data
    if isinstance(data, list):
        return [client_named(item, names) for item in data]
    if isinstance(data, dict):
        return {key: client_named(value, names) for key, value in data.items()}
    return data
