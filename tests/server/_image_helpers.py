"""Images the server's image routes are tested with: real photos (scikit-image's), as bytes
in the formats clients send, a cut-short file, a decompression bomb, and data URLs."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image


def photo_bytes(name: str = "astronaut", fmt: str = "PNG", size: int = 96) -> bytes:
    """A scikit-image sample photo, shrunk to ``size`` pixels wide, encoded as ``fmt``."""
    from skimage import data

    image = Image.fromarray(getattr(data, name)())
    image = image.convert("RGB").resize((size, size * image.height // image.width))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """The first half of an image file: its header intact, its pixels cut short."""
    return data[: len(data) // 2]


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A few hundred bytes of PNG whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def image_item(data: bytes) -> dict:
    """One OpenAI moderation input item carrying ``data`` inline."""
    return {"type": "image_url", "image_url": {"url": data_url(data)}}
