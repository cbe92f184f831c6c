"""``POST /v1/images/generations`` and ``/v1/images/edits`` on Stable Diffusion, as OpenAI's
API has them; ``/v1/images/variations`` is a clear 501.

Fields, with OpenAI's names: ``prompt``, ``model`` (OpenAI's image names, ``dall-e-2`` ...
``gpt-image-2``, mean the server's ``--diffusion-model``; catalogue names and the configured
model's own name or path mean themselves; anything else is a 404), ``n`` (1-10), ``size``
(``WIDTHxHEIGHT``, multiples of 8 from 64 to 4096, OpenAI's 1024x1024 among them; ``auto`` or
none: the model's native size, or for an edit the image's), ``response_format``.
``quality``, ``style``, ``background``, ``moderation``, ``user`` and OpenAI's other settings of
its own models are accepted and ignored, as are unknown fields (as on the server's other
routes). ``output_format`` must be ``png`` (the PNG carries the parameters) and ``stream``
false: both would otherwise change what the client gets.

Our extensions (the SDK's ``extra_body``): ``negative_prompt`` (none: the library's default
negative; ``""``: none), ``seed`` (image *i* of ``n`` uses ``seed + i``), ``steps``,
``guidance_scale``, ``scheduler`` (A1111's names) and, for edits, ``strength``. Each image in
the answer carries its ``seed``, so a client can ask for it again.

``response_format``: ``b64_json`` (the default here, whatever the model name: this server
hosts no files) or ``url``, answered as a ``data:image/png;base64,...`` URL. The image is
inline either way; a data URL shows in a browser's ``<img>`` and opens with ``urllib``, which
serves clients that ask for URLs better than an error would.

Every image is a PNG with its generation parameters (A1111's ``parameters`` chunk and ours, read
by :func:`polymodal.read_parameters`), written as the client may see them: the model by its
name (not the server's folder), an edit's image and mask by the client's file names.

Edits (multipart): ``image`` (one PNG, JPEG, WebP...; sniffed, 415 when not an image) and
``prompt``; ``mask`` optional, a PNG whose fully transparent pixels (alpha 0) mark the area to
repaint (OpenAI's convention; it must have an alpha channel and the image's size, else a 400
naming ``mask``). With a mask the room inpaints: pixels outside the area come back exactly as
sent, and ``strength`` defaults to 1 (the area is replaced, as OpenAI does it). Without one the
edit is img2img of the whole image at ``strength`` (default 0.6: how much to change).

Generation runs on the ``generation`` family's one worker (a short queue, then 429), watched
(:mod:`~polymodal.server.watch`): past ``request_timeout_s`` it is stopped and answered 504, and
a client that hangs up stops it at the next denoising step. OpenAI's API streams no progress
for these routes, so none is sent.
"""

from __future__ import annotations

import base64
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.errors import NotYetImplementedError, openai_params
from polymodal.server.image_uploads import ImageSource, saved_images, upload_sources
from polymodal.server.state import ServerState, server_state
from polymodal.server.watch import RequestTimeoutError, WatchedWork

router = APIRouter(tags=["images"])

MAX_N = 10  # OpenAI's limit on one request
#: Library parameter names -> the request fields that carry them (``error.param``).
PARAMS = {
    "guidance": "guidance_scale",
    "negative": "negative_prompt",
    "init": "image",
    "width": "size",
    "height": "size",
}
#: An edit with a mask replaces the area (OpenAI's meaning); without one the library's default
#: strength reworks the whole image.
MASKED_STRENGTH = 1.0

ResponseFormat = Literal["b64_json", "url"]
State = Annotated[ServerState, Depends(server_state)]


@dataclass(frozen=True)
class ImageRequest:
    """One generation or edit request, as its fields gave it; ``model`` is what to load
    (``None``: the library's default)."""

    prompt: str
    model: str | None
    n: int
    size: str | None
    response_format: ResponseFormat
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    strength: float | None = None

    def __post_init__(self) -> None:
        self.dimensions()  # a size that is not WIDTHxHEIGHT is a 400 before any wait

    def dimensions(self) -> dict[str, int]:
        """``width``/``height`` for the library; nothing for ``auto`` (the native size)."""
        if self.size is None or self.size.strip().lower() in ("", "auto"):
            return {}
        width, height = polymodal.parse_size(self.size)
        return {"width": width, "height": height}

    def options(self) -> dict[str, Any]:
        """The library's keyword arguments for the fields given (the rest keep its defaults)."""
        given = {
            "negative": self.negative_prompt,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance_scale,
            "scheduler": self.scheduler,
            "strength": self.strength,
        }
        options = {key: value for key, value in given.items() if value is not None}
        return options | self.dimensions() | {"n": self.n}


def _check_output(output_format: str | None, stream: bool | None) -> None:
    """Refuse what would change the answer's kind: another file format, or a stream."""
    if output_format is not None and output_format.strip().lower() != "png":
        raise BadInputError(
            f"This server answers PNG images only (they carry their generation parameters), "
            f"not {output_format}: leave output_format out or set it to png.",
            param="output_format",
        )
    if stream:
        raise BadInputError(
            "This server does not stream partial images: leave stream out or set it to false.",
            param="stream",
        )


def _model(state: ServerState, requested: str | None) -> str | None:
    """What to load: OpenAI's names and none mean the default, the configured model answers
    to its own name or path too, catalogue names mean themselves, the rest are 404s."""
    default = state.diffusion.default
    if requested is None or not requested.strip():
        return default
    name = requested.strip()
    if default is not None and name in _own_names(default):
        return default
    return state.diffusion.resolve(name)


def _own_names(default: str) -> tuple[str, ...]:
    """The configured model's names: itself, and for a folder or checkpoint file its name
    with and without the suffix (``tiny-sd``, ``model.safetensors``, ``model``)."""
    path = Path(default).expanduser()
    return (default, path.name, path.stem) if path.exists() else (default,)


def _shown(parameters: Any, names: Mapping[str, str]) -> Any:
    """``parameters`` as the client may see them: a model folder by its name, the server's
    temporary files by the client's names for them."""
    model = parameters.model
    if model and Path(model).is_absolute():
        model = parameters.model_name
    init = names.get(parameters.init or "", parameters.init)
    mask = names.get(parameters.mask or "", parameters.mask)
    return replace(parameters, model=model, init=init, mask=mask)


def _png(image: Any, names: Mapping[str, str]) -> bytes:
    """The image as PNG bytes with its parameters, written by the room's own writer."""
    shown = replace(image, parameters=_shown(image.parameters, names))
    with tempfile.TemporaryDirectory(prefix="polymodal-generated-") as folder:
        path = Path(folder) / "image.png"
        polymodal.save_image(shown, path)
        return path.read_bytes()


def _answer(generation: Any, response_format: ResponseFormat, names: Mapping[str, str]) -> dict:
    """OpenAI's ``ImagesResponse``, with each image's ``seed`` as our extra field."""
    data = []
    for image in generation.images:
        encoded = base64.b64encode(_png(image, names)).decode("ascii")
        picture = (
            {"b64_json": encoded}
            if response_format == "b64_json"
            else {"url": f"data:image/png;base64,{encoded}"}
        )
        extra = {"seed": image.parameters.seed}
        if image.screened is not None:
            extra |= {"screened": image.screened, "screened_categories": image.screened_categories}
        data.append({**picture, "revised_prompt": None, **extra})
    first = generation.images[0].parameters
    return {
        "created": int(time.time()),
        "data": data,
        "output_format": "png",
        "size": f"{first.width}x{first.height}",
    }


def _generated(
    state: ServerState,
    request: ImageRequest,
    cancel: polymodal.CancelToken,
    names: Mapping[str, str] | None = None,
    **inputs: Any,
) -> dict:
    """Generate on this worker and answer; a known model whose weights are not here is a
    503 (the operator's to fix), where an unknown name was a 404 at the door."""
    options = request.options() | inputs

    def run(model: str | None) -> Any:
        return polymodal.generate(request.prompt, model=model, cancel=cancel, **options)

    generation = state.diffusion.load(request.model, run)
    if state.settings.screen_generations:
        generation = _screened(state, generation)
    return _answer(generation, request.response_format, names or {})


def _screened(state: ServerState, generation: Any) -> Any:
    """``generation`` through the CLIP moderation (``screen_generations``): a flagged image is
    answered blurred and says so in its PNG parameters and its ``screened`` field, never
    dropped. The CLIP model is the server's, loaded once as the other image routes load it."""
    encoder = state.clip.load(state.settings.clip_model, polymodal.get_encoder)
    categories = state.settings.screen_categories
    return polymodal.screen_generation(generation, model=encoder, categories_file=categories)


def _generate_work(
    state: ServerState, request: ImageRequest, *, cancel: polymodal.CancelToken
) -> Iterator[dict]:
    """The blocking part of ``/generations``, on the generation worker."""
    with openai_params(PARAMS):
        yield _generated(state, request, cancel)


def _edit_work(
    state: ServerState,
    request: ImageRequest,
    image: ImageSource,
    mask: ImageSource | None,
    *,
    cancel: polymodal.CancelToken,
) -> Iterator[dict]:
    """The blocking part of ``/edits``: save and sniff the uploads, turn OpenAI's mask into
    the room's, generate. Bad uploads are refused before any model loads."""
    with openai_params(PARAMS), saved_images([image], "image") as images:
        init = next(iter(images))
        with _repaint_mask(mask, init) as repaint:
            names = {str(Path(init).resolve()): image.name}
            if repaint is not None and mask is not None:
                names[str(repaint.resolve())] = mask.name
            yield _generated(state, request, cancel, names, init=init, mask=repaint)


@contextmanager
def _repaint_mask(mask: ImageSource | None, init: str) -> Iterator[Path | None]:
    """OpenAI's mask (transparent = repaint) as the room's (white = repaint), on disk beside
    the upload while the work runs; ``None`` without a mask."""
    if mask is None:
        yield None
        return
    with saved_images([mask], "mask") as masks:
        path = Path(next(iter(masks)))
        repaint = path.with_name("repaint.png")
        _alpha_to_repaint(path, polymodal.load_image(init).size).save(repaint)
        yield repaint


def _alpha_to_repaint(path: Path, size: tuple[int, int]) -> Image.Image:
    """White where the mask is fully transparent (alpha 0), black elsewhere; one sentence for
    a mask of another size or without an alpha channel."""
    with Image.open(path) as opened:
        mask = ImageOps.exif_transpose(opened)
        if mask.size != size:
            raise BadInputError(
                f"The mask is {mask.size[0]}x{mask.size[1]} but the image is "
                f"{size[0]}x{size[1]}: they must be the same size.",
                param="mask",
            )
        if not mask.has_transparency_data:
            raise BadInputError(
                "The mask has no alpha channel: send a PNG whose fully transparent pixels mark "
                "the area to repaint (the rest opaque).",
                param="mask",
            )
        alpha = mask.convert("RGBA").getchannel("A")
    return alpha.point(lambda value: 255 if value == 0 else 0)


async def _run(http: Request, state: ServerState, function: Any, *args: Any) -> JSONResponse:
    """``function``'s one answer, watched: 504 past the timeout, stopped if the client goes."""
    timeout = state.settings.request_timeout_s
    work = WatchedWork(http, state.generation, timeout, function, state, *args)
    try:
        return JSONResponse(await anext(work))
    except RequestTimeoutError as exc:
        raise RequestTimeoutError(
            f"The generation ran past the server's {timeout:g} s timeout and was stopped; ask "
            "for fewer or smaller images or fewer steps, or ask the operator to raise "
            "--request-timeout.",
        ) from exc
    finally:
        await work.close()


class GenerationBody(BaseModel):
    """OpenAI's request body plus our extensions; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    prompt: str
    model: str | None = Field(None, description="dall-e-2, gpt-image-1 ...: the server's model.")
    n: int | None = Field(None, ge=1, le=MAX_N, description="How many images (1-10).")
    size: str | None = Field(None, description="WIDTHxHEIGHT (multiples of 8) or auto.")
    response_format: ResponseFormat | None = Field(None, description="b64_json or url (data:).")
    output_format: str | None = Field(None, description="png only.")
    stream: bool | None = Field(None, description="false only.")
    quality: str | None = Field(None, description="Accepted and ignored.")
    style: str | None = Field(None, description="Accepted and ignored.")
    background: str | None = Field(None, description="Accepted and ignored.")
    moderation: str | None = Field(None, description="Accepted and ignored.")
    user: str | None = Field(None, description="Accepted and ignored.")
    negative_prompt: str | None = Field(None, description="What to avoid (none: our default).")
    seed: int | None = Field(None, description="Image i of n uses seed + i.")
    steps: int | None = Field(None, description="Denoising steps (default 25).")
    guidance_scale: float | None = Field(None, description="Classifier-free guidance (7).")
    scheduler: str | None = Field(None, description="A1111's sampler name (DPM++ 2M Karras).")


@router.post("/v1/images/generations")
async def generations(http: Request, body: GenerationBody, state: State) -> JSONResponse:
    """Images from a prompt (OpenAI's ``images.generate``), each a PNG with its parameters."""
    _check_output(body.output_format, body.stream)
    request = ImageRequest(
        prompt=body.prompt,
        model=_model(state, body.model),  # an unknown name is a 404 before any wait
        n=body.n or 1,
        size=body.size,
        response_format=body.response_format or "b64_json",
        negative_prompt=body.negative_prompt,
        seed=body.seed,
        steps=body.steps,
        guidance_scale=body.guidance_scale,
        scheduler=body.scheduler,
    )
    return await _run(http, state, _generate_work, request)


def _one_image(image: list[UploadFile] | None, images: list[UploadFile]) -> ImageSource:
    """The single image to edit, from ``image`` or the SDK's ``image[]``."""
    sources = upload_sources([*(image or []), *images])
    if not sources:
        raise BadInputError("Missing required parameter: 'image'.", param="image")
    if len(sources) > 1:
        raise BadInputError(
            f"This server edits one image per request, not {len(sources)}: send one image "
            "(and, to repaint part of it, a mask).",
            param="image",
        )
    return sources[0]


_Text = Annotated[str | None, Form()]
_Int = Annotated[int | None, Form()]
_Float = Annotated[float | None, Form()]


@router.post("/v1/images/edits")
async def edits(
    http: Request,
    state: State,
    prompt: Annotated[str, Form(description="What the edited image should show.")],
    image: Annotated[list[UploadFile] | None, File(description="The image to edit.")] = None,
    images: Annotated[list[UploadFile], File(alias="image[]", description="The same.")] = [],  # noqa: B006 - FastAPI copies defaults
    mask: Annotated[
        UploadFile | None, File(description="PNG: fully transparent pixels = repaint.")
    ] = None,
    model: _Text = None,
    n: Annotated[int | None, Form(ge=1, le=MAX_N)] = None,
    size: _Text = None,
    response_format: Annotated[ResponseFormat | None, Form()] = None,
    output_format: _Text = None,
    stream: Annotated[bool | None, Form()] = None,
    negative_prompt: _Text = None,
    seed: _Int = None,
    steps: _Int = None,
    guidance_scale: _Float = None,
    scheduler: _Text = None,
    strength: Annotated[float | None, Form(description="How much to change (0-1].")] = None,
) -> JSONResponse:
    """An image repainted where its mask is transparent, or wholly reworked without a mask
    (OpenAI's ``images.edit``); each answer a PNG with its parameters."""
    _check_output(output_format, stream)
    source = _one_image(image, images)
    masked = upload_sources([mask])[0] if mask is not None else None
    request = ImageRequest(
        prompt=prompt,
        model=_model(state, model),  # an unknown name is a 404 before it waits for the worker
        n=n or 1,
        size=size,
        response_format=response_format or "b64_json",
        negative_prompt=negative_prompt,
        seed=seed,
        steps=steps,
        guidance_scale=guidance_scale,
        scheduler=scheduler,
        strength=MASKED_STRENGTH if strength is None and masked is not None else strength,
    )
    return await _run(http, state, _edit_work, request, source, masked)


@router.post("/v1/images/variations")
async def variations() -> None:
    """Not served: Stable Diffusion needs a prompt to vary an image by."""
    raise NotYetImplementedError(
        "Image variations are not served here: Stable Diffusion needs a prompt. Use "
        "/v1/images/edits without a mask, with a prompt describing the image and strength "
        "(0-1) saying how much to change it."
    )
