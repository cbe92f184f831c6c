"""``POST /v1/embeddings``: CLIP text (and, as our extension, image) embeddings in OpenAI's shape.

OpenAI's embedding names (``text-embedding-3-small``, ``-3-large``, ``text-embedding-ada-002``)
and ``clip`` mean the server's default CLIP model; catalogue names mean themselves. The vectors
are CLIP's, L2-normalised like OpenAI's, so cosine similarity is a dot product; they live in
CLIP's space (text beside images), not OpenAI's, and are as long as the model's embedding
(``dimensions`` must equal it: CLIP vectors cannot be shortened as OpenAI's v3 ones can).
``encoding_format="base64"`` (what the official client asks for unless told otherwise) is the
little-endian float32 bytes, base64-encoded. Texts past CLIP's 77 tokens are truncated.

Images: an ``input`` item that is a data URL (``data:image/png;base64,...``), or a bare base64
string whose bytes are an image, is embedded as that image, in the same space as the texts;
which it is is judged by the bytes (a data URL of anything but an image is a 415 naming
``input``; a link is refused, the server fetches nothing). Images count no tokens.

Concurrent requests are batched (:mod:`polymodal.server.batching`): their texts share one
encoder call, their images another. Nothing is cached on disk: a server's inputs are its
clients' business.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

import polymodal
from polymodal.errors import BadInputError, PolymodalError
from polymodal.server.batching import embed_text_batch
from polymodal.server.image_uploads import ImageSource, client_named, data_url_bytes, saved_images
from polymodal.server.state import ServerState, server_state

router = APIRouter(tags=["embeddings"])

MAX_INPUTS = 2048  # OpenAI's limit on one request's list
#: A bare string is looked at as base64 only when it could be an image's bytes: long, and
#: nothing but the base64 alphabet (a text with a space or a dot never is).
_BASE64 = re.compile(r"[A-Za-z0-9+/]{60,}={0,2}")


class EmbeddingRequest(BaseModel):
    """OpenAI's request body; ``user`` and unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Field(gt=0)] | None = None
    user: str | None = None

    def items(self) -> list[str]:
        """The texts and images to embed, checked as OpenAI checks them."""
        items = [self.input] if isinstance(self.input, str) else list(self.input)
        if not items:
            raise BadInputError(
                "The input is empty: send a text or a list of texts.", param="input"
            )
        if not all(isinstance(item, str) for item in items):
            raise BadInputError(
                "Token arrays are not supported (CLIP has its own tokenizer): send the texts.",
                param="input",
            )
        if len(items) > MAX_INPUTS:
            raise BadInputError(
                f"{len(items)} inputs is over the limit of {MAX_INPUTS} in one request.",
                param="input",
            )
        if any(not item.strip() for item in items):
            raise BadInputError("An input text is empty; every text needs words.", param="input")
        return items  # type: ignore[return-value]


@dataclass(frozen=True)
class Inputs:
    """A request's items split by kind, each with its position in ``input``."""

    texts: list[tuple[int, str]]
    images: list[tuple[int, bytes]]

    @property
    def count(self) -> int:
        return len(self.texts) + len(self.images)


def _looks_like_image(item: str) -> bool:
    return item.startswith("data:") or _BASE64.fullmatch(item) is not None


def _image_bytes(index: int, item: str) -> bytes | None:
    """The image in ``item`` (a data URL, or base64 that decodes to an image), else ``None``
    (a text). A data URL is always meant as an image: its errors are the client's."""
    if item.startswith("data:"):
        return data_url_bytes(item, param="input")
    try:
        data = base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        with Image.open(io.BytesIO(data)):  # the header only: is this an image format?
            return data
    except (UnidentifiedImageError, OSError):
        return None


def split_inputs(items: list[str]) -> Inputs:
    """Texts and images apart; blocking (base64 decoding) when any item may be an image."""
    texts: list[tuple[int, str]] = []
    images: list[tuple[int, bytes]] = []
    for index, item in enumerate(items):
        data = _image_bytes(index, item) if _looks_like_image(item) else None
        if data is None:
            texts.append((index, item))
        else:
            images.append((index, data))
    return Inputs(texts, images)


def _check_dimensions(dim: int, dimensions: int | None) -> None:
    if dimensions is not None and dimensions != dim:
        raise BadInputError(
            f"This model's embeddings have {dim} dimensions; dimensions must be "
            f"{dim} or left out, not {dimensions}.",
            param="dimensions",
        )


def _encoder(state: ServerState, name: str | None) -> Any:
    return state.clip.load(name, polymodal.get_encoder)


def _pixels(encoder: Any, images: list[tuple[int, bytes]]) -> np.ndarray:
    """The images decoded (safely, by the library) and preprocessed for ``encoder``; a
    sentence naming ``input[i]`` for one that is not an image or cannot be decoded."""
    sources = [ImageSource(f"input[{index}]", data=data) for index, data in images]
    with saved_images(sources, param="input") as names:
        try:
            decoded = [polymodal.load_image(path, min_side=encoder.min_side) for path in names]
        except PolymodalError as exc:
            exc.args = (client_named(str(exc), names),)
            exc.param = "input"
            raise
        return encoder.preprocess(decoded)


@dataclass(frozen=True)
class Prepared:
    """What the blocking preparation gives: texts and images split, the encoder when images
    need it (their preprocessing is the model's), their pixels."""

    inputs: Inputs
    encoder: Any = None
    pixels: np.ndarray | None = None


def _prepare(state: ServerState, request: EmbeddingRequest, items: list[str], name) -> Prepared:
    """On an embedding worker: sniff and decode images (blocking), before any batch."""
    inputs = split_inputs(items)
    if not inputs.images:
        return Prepared(inputs)
    encoder = _encoder(state, name)
    _check_dimensions(encoder.dim, request.dimensions)
    return Prepared(inputs, encoder, _pixels(encoder, inputs.images))


def _embed_alone(state: ServerState, request: EmbeddingRequest, items: list[str], name):
    """Batching off: the whole request on one embedding worker, as its own encoder calls."""
    prepared = _prepare(state, request, items, name)
    encoder = prepared.encoder or _encoder(state, name)
    _check_dimensions(encoder.dim, request.dimensions)
    texts = [text for _, text in prepared.inputs.texts]
    embedded = next(iter(embed_text_batch(encoder, [texts])))[1] if texts else None
    images = encoder.encode_pixels(prepared.pixels) if prepared.pixels is not None else None
    return _assemble(prepared.inputs, embedded, images)


async def _embed_batched(state: ServerState, request: EmbeddingRequest, items, name):
    """Batching on: texts to the next text batch, images (decoded on a worker) to the next
    image batch of the same encoder; both awaited without holding a worker."""
    if any(_looks_like_image(item) for item in items):
        prepared = await state.embeddings.run(_prepare, state, request, items, name)
    else:
        prepared = Prepared(Inputs(list(enumerate(items)), []))
    waits = []
    texts = [text for _, text in prepared.inputs.texts]
    if texts:
        load = _Loader(state, name)
        waits.append(asyncio.wrap_future(state.embedder.submit_texts(name, load, texts)))
    if prepared.pixels is not None:
        pixels = state.embedder.submit_pixels(prepared.encoder, prepared.pixels)
        waits.append(asyncio.wrap_future(pixels))
    results = await asyncio.gather(*waits)
    embedded = results[0] if texts else None
    images = results[-1] if prepared.pixels is not None else None
    if embedded is not None:
        _check_dimensions(embedded.vectors.shape[1], request.dimensions)
    return _assemble(prepared.inputs, embedded, images)


@dataclass(frozen=True)
class _Loader:
    """The request's encoder, loaded on the batch's thread (once: the catalogue keeps it)."""

    state: ServerState
    name: str | None

    def __call__(self) -> Any:
        return _encoder(self.state, self.name)


def _assemble(inputs: Inputs, embedded, images) -> tuple[list[np.ndarray], int]:
    """Vectors back in ``input`` order, and the text tokens counted."""
    vectors: list[Any] = [None] * inputs.count
    if embedded is not None:
        for (index, _), vector in zip(inputs.texts, embedded.vectors, strict=True):
            vectors[index] = vector
    if images is not None:
        for (index, _), vector in zip(inputs.images, images, strict=True):
            vectors[index] = vector
    return vectors, embedded.tokens if embedded is not None else 0


def _encoded(vector: np.ndarray, encoding_format: str) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(np.float32).tolist()


@router.post("/v1/embeddings")
async def embeddings(
    request: EmbeddingRequest, state: Annotated[ServerState, Depends(server_state)]
) -> JSONResponse:
    """Texts (and images as data URLs or base64) to CLIP embeddings (OpenAI's
    ``embeddings.create``)."""
    items = request.items()
    name = state.clip.resolve(request.model)
    if state.embedder.enabled:
        vectors, tokens = await _embed_batched(state, request, items, name)
    else:
        vectors, tokens = await state.embeddings.run(_embed_alone, state, request, items, name)
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(v, request.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return JSONResponse({"object": "list", "data": data, "model": request.model, "usage": usage})
