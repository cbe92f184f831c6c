"""``/v1/polymodal/classify``, ``similarity``, ``dedup``, ``moderate`` and ``count``: the CLIP
tasks and the object detector over uploaded images.

Each route takes multipart uploads, writes them to private temporary files (sniffed: 415 for
what is not an image, 413 for a decompression bomb), calls the public API on the image
workers with the server's CLIP model, and answers the task's result as
:func:`polymodal.to_data` writes it, the same JSON as the CLI's ``--json``. Images are named
in results as the client named them (the upload's file name), never by a server path, and
nothing is cached on disk: a server's inputs are its clients' business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.image_uploads import (
    ImageSource,
    client_named,
    saved_images,
    upload_sources,
)
from polymodal.server.names import ModelNames
from polymodal.server.state import ServerState, server_state

router = APIRouter(prefix="/v1/polymodal", tags=["polymodal"])

Images = Annotated[list[UploadFile], File(description="One or more image files.")]
Model = Annotated[
    str | None, Form(description="A CLIP catalogue name, or clip (the server's default).")
]
State = Annotated[ServerState, Depends(server_state)]


def encoder(state: ServerState, model: str | None) -> Any:
    """The server's CLIP encoder for a request's ``model`` (404 unknown, 503 not here)."""
    name = state.clip.resolve(model) if model else state.clip.default
    return state.clip.load(name, polymodal.get_encoder)


def image_task(sources: list[ImageSource], task: Callable[[list[str]], Any]) -> Any:
    """``task(paths)`` over the saved, sniffed images; its result as the client's data."""
    with saved_images(sources, "images") as names:
        return client_named(polymodal.to_data(task(list(names))), names)


async def answered(state: ServerState, function: Callable[..., Any], *args: Any) -> JSONResponse:
    return JSONResponse(await state.images.run(function, *args))


def _labels(values: list[str]) -> list[str]:
    """Labels from repeated ``labels`` fields, each of which may hold comma-separated ones."""
    labels = polymodal.read_labels(",".join(values))
    if not labels:
        raise BadInputError("Give at least one label.", param="labels")
    return labels


@router.post("/classify")
async def classify(
    images: Images,
    labels: Annotated[list[str], Form(description="Labels; repeat the field or comma-separate.")],
    state: State,
    model: Model = None,
    multi_label: Annotated[bool, Form(description="Judge each label on its own.")] = False,
    top_k: Annotated[int | None, Form(ge=1, description="Keep the best k labels.")] = None,
    route: Annotated[bool, Form(description="Count counting labels with the detector.")] = True,
) -> JSONResponse:
    """Zero-shot classification of images against labels, with the advisor's warnings on
    labels CLIP judges poorly (counting, spatial relations, negation) and, for counting
    labels, the object detector's counts (``polymodal classify --json``)."""
    chosen = _labels(labels)
    detector = state.settings.detector_model

    def task(paths: list[str]) -> Any:
        return polymodal.classify(
            paths,
            chosen,
            model=encoder(state, model),
            multi_label=multi_label,
            top_k=top_k,
            cache=False,
            route=route,
            detector=detector,
        )

    return await answered(state, image_task, upload_sources(images), task)


@router.post("/similarity")
async def similarity(
    image: Annotated[UploadFile, File(description="The image to compare (or the query).")],
    state: State,
    other: Annotated[UploadFile | None, File(description="A second image.")] = None,
    text: Annotated[str | None, Form(description="A text to compare the image with.")] = None,
    among: Annotated[
        list[UploadFile] | None, File(description="Images to rank by likeness instead.")
    ] = None,
    top_k: Annotated[int | None, Form(ge=1)] = 10,
    model: Model = None,
) -> JSONResponse:
    """Cosine similarity of an image and a second image or a text (``polymodal similar``), or
    the ``among`` images ranked by likeness to it (``polymodal similar --among``)."""
    if sum(x is not None for x in (other, text)) + bool(among) != 1:
        raise BadInputError("Give other (an image), text or among (images): exactly one.")
    uploads = [image, *([other] if other is not None else []), *(among or [])]

    def task(paths: list[str]) -> Any:
        clip = encoder(state, model)
        if among:
            return polymodal.rank_similar(paths[0], paths[1:], top_k=top_k, model=clip, cache=False)
        second = paths[1] if other is not None else None
        return polymodal.compare(paths[0], second, text=text, model=clip)

    return await answered(state, image_task, upload_sources(uploads), task)


@router.post("/dedup")
async def dedup(
    images: Images,
    state: State,
    threshold: Annotated[float | None, Form(description="Least CLIP cosine, semantic.")] = None,
    hash_distance: Annotated[int | None, Form(description="Most differing bits of 128.")] = None,
    semantic: Annotated[bool, Form(description="Also group look-alikes with CLIP.")] = True,
    model: Model = None,
) -> JSONResponse:
    """Groups of exact, near-exact (edited, rotated, mirrored) and semantic duplicates among
    the uploaded images (``polymodal dedup --json``); nothing is moved or deleted."""
    options: dict[str, Any] = {"semantic": semantic}
    if threshold is not None:
        options["semantic_threshold"] = threshold
    if hash_distance is not None:
        options["hash_distance"] = hash_distance

    def task(paths: list[str]) -> Any:
        clip = encoder(state, model) if semantic else None
        return polymodal.find_duplicates(paths, model=clip, **options)

    return await answered(state, image_task, upload_sources(images), task)


@router.post("/moderate")
async def moderate(images: Images, state: State, model: Model = None) -> JSONResponse:
    """Every uploaded image's scores against polymodal's screening categories, with the
    flags and the notice on what they are worth (``polymodal moderate --json``): a
    screening aid for human review, not a verdict."""

    def task(paths: list[str]) -> Any:
        return polymodal.moderate(paths, model=encoder(state, model), cache=False)

    return await answered(state, image_task, upload_sources(images), task)


@router.post("/count")
async def count(
    image: Annotated[UploadFile, File(description="The image.")],
    noun: Annotated[str, Form(description="What to count: cars, people, dogs ...")],
    state: State,
    threshold: Annotated[float, Form(description="Keep detections over this (0-1).")] = 0.9,
) -> JSONResponse:
    """How many of a noun's objects the image holds, by the object detector (DETR), with
    boxes and scores (``polymodal count --json``): CLIP cannot count."""
    names = ModelNames("detector", state.settings.detector_model, ())

    def task(paths: list[str]) -> Any:
        detector = names.load(names.default, lambda name: polymodal.load_model(name, "detector"))
        return polymodal.count_objects(paths[0], noun, model=detector, threshold=threshold)

    return await answered(state, image_task, upload_sources([image]), task)
