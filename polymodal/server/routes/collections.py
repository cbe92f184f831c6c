"""``/v1/polymodal/collections``: list the photo collections, search one by words or by an
example image, and add uploaded images to one.

A collection is named by a form field, never by a path: the library's
:func:`~polymodal.Collection` accepts only letters, digits, ``-`` and ``_`` (a name such as
``../../etc`` is a 400), and the routes are fixed paths, so no request text becomes part of a
path. The collections live in the server's database (``<POLYMODAL_HOME>/collections``).

Added images are kept, since a collection points at its images' files: each upload is stored
under ``<POLYMODAL_HOME>/server-images/<collection>/`` by the SHA-1 of its bytes (the same
picture uploaded twice is one file and one row), written atomically, and then indexed like
any folder (``polymodal index``). ``where`` (a SQL filter) is not offered here: request text
never becomes a query language the database runs.

``thumbnails=true`` on a search adds each hit's ``thumbnail``, a small inline JPEG (a
``data:`` URL, as the contact sheet has them), for the web page: the files read are the hits'
own, which the collection holds; no request text names a file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse
from PIL import Image

import polymodal
from polymodal.config import settings
from polymodal.errors import BadInputError
from polymodal.server.image_uploads import client_named, saved_images, upload_sources
from polymodal.server.state import ServerState, server_state

router = APIRouter(prefix="/v1/polymodal/collections", tags=["polymodal"])

State = Annotated[ServerState, Depends(server_state)]
Name = Annotated[str, Form(description="The collection's name (letters, digits, - and _).")]
_SUFFIX = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
}


def store_folder(collection: str) -> Path:
    """Where the server keeps the images uploaded to ``collection`` (a checked name)."""
    return settings().home / "server-images" / collection


def _kept(path: Path, folder: Path) -> Path:
    """``path``'s bytes stored in ``folder`` by their SHA-1, with the suffix of their format
    (so ``polymodal index`` finds them too); an existing copy is kept as it is."""
    data = path.read_bytes()
    with Image.open(path) as image:  # header only: the upload was sniffed already
        suffix = _SUFFIX.get(image.format or "", ".img")
    target = folder / f"{hashlib.sha1(data, usedforsecurity=False).hexdigest()}{suffix}"
    if not target.exists():
        polymodal.write_atomic(target, data)
    return target


@router.get("")
async def list_collections(state: State) -> JSONResponse:
    """Every collection with its model, its size and whether it has a vector index
    (``polymodal collections --json``)."""

    def run() -> Any:
        names = polymodal.list_collections()
        return polymodal.to_data([polymodal.Collection(name).stats() for name in names])

    return JSONResponse(await state.images.run(run))


@router.post("/search")
async def search(
    collection: Name,
    state: State,
    text: Annotated[str | None, Form(description="What to look for, in words.")] = None,
    image: Annotated[UploadFile | None, File(description="Find images like this one.")] = None,
    k: Annotated[int, Form(ge=1, le=1000, description="At most this many hits.")] = 20,
    after: Annotated[str | None, Form(description="Taken on or after YYYY-MM-DD.")] = None,
    before: Annotated[str | None, Form(description="Taken before YYYY-MM-DD.")] = None,
    camera: Annotated[str | None, Form(description="Camera make or model.")] = None,
    min_score: Annotated[float | None, Form(description="Cosine floor, not confidence.")] = None,
    thumbnails: Annotated[bool, Form(description="Add each hit's thumbnail (data URL).")] = False,
) -> JSONResponse:
    """The confident matches for words or an example image, best first, with the advisor's
    word on a text query and a plain message when nothing matches (``polymodal search
    --json``)."""
    target = polymodal.Collection(collection)  # a name that is not a name is a 400 here
    if (text is None) == (image is None):
        raise BadInputError("Search by text or by an image: give exactly one.", param="text")
    options = {"k": k, "after": after, "before": before, "camera": camera, "min_score": min_score}

    def run() -> Any:
        if image is None:
            found = polymodal.search_images(text, collection=target, **options)
            return _with_thumbnails(polymodal.to_data(found), thumbnails)
        with saved_images(upload_sources([image]), "image") as names:
            found = polymodal.search_images(image=next(iter(names)), collection=target, **options)
            return client_named(_with_thumbnails(polymodal.to_data(found), thumbnails), names)

    return JSONResponse(await state.images.run(run))


def _with_thumbnails(data: dict[str, Any], wanted: bool) -> dict[str, Any]:
    """``data`` with each hit's thumbnail (``None`` for a file no longer readable) when
    ``wanted``; the paths are the collection's own, from its database."""
    if wanted:
        for hit in data["hits"]:
            hit["thumbnail"] = polymodal.thumbnail_uri(hit["path"])
    return data


@router.post("/add")
async def add(
    collection: Name,
    images: Annotated[list[UploadFile], File(description="Images to add.")],
    state: State,
) -> JSONResponse:
    """Add uploaded images to a collection (created with the server's CLIP model when new):
    what was added and what was already there (``polymodal index --json``)."""
    polymodal.Collection(collection)  # a name that is not a name is a 400, before the upload

    def run() -> Any:
        with saved_images(upload_sources(images), "images") as names:
            target = polymodal.Collection(collection)
            if not target.exists():  # a new collection gets the server's CLIP model
                target = polymodal.Collection(collection, model=state.clip.default)
            folder = store_folder(target.name)
            return polymodal.to_data(target.add([_kept(Path(path), folder) for path in names]))

    return JSONResponse(await state.images.run(run))
