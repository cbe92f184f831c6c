"""``POST /v1/moderations``: OpenAI's moderation shape, answered by polymodal's image screening.

What is scored, and why the rest is false/0:

* **Images** (``{"type": "image_url", "image_url": {"url": "data:..."}}``) go through
  :func:`polymodal.moderate`: CLIP zero-shot scores against the screening categories of
  ``polymodal/vision/data/moderation.toml``. Four of OpenAI's keys have a category of ours
  that means the same thing in a picture: ``sexual`` (ours: sexual), ``violence`` and
  ``violence/graphic`` (ours: violence, whose prompts are wounds, gore, a dead body and
  fights, so one score answers both), and ``self-harm`` (ours: self_harm). Their
  ``category_applied_input_types`` say ``["image"]``.
* **Every other key is false with score 0 and applied input types ``[]``** (nothing was
  scored): harassment, hate, illicit and their sub-keys, ``self-harm/intent`` and
  ``self-harm/instructions`` are about what someone *says* (OpenAI itself scores most of them
  from text only), and ``sexual/minors`` is a text-only key in OpenAI's schema. Our categories
  without an OpenAI key of the same meaning (weapons, drugs, hate_symbols, minors_at_risk)
  are reported in the extra ``polymodal`` field, and they do set ``flagged``: a client that
  reads only ``flagged`` misses nothing the screening saw.
* **Text is not scored.** polymodal's moderation is CLIP's image tower against descriptive
  prompts; CLIP's text tower was trained to match captions to pictures, not to judge what a
  text says (a threat, an insult, an intent), and the category thresholds are set for
  image-to-prompt similarities, which text-to-prompt similarities do not share. A score from
  it would look like moderation without being it, so text items answer false/0 and the
  ``polymodal.notice`` says so.

Like OpenAI's API: a string or a list of strings gives one result each; a list of typed items
(text and images) is one input and gives one result, each category's score the highest over
its images. The screening is a first pass for a human, not a verdict (``polymodal.notice``).
Images are never cached on disk; links are refused (the server fetches nothing).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.errors import openai_params
from polymodal.server.image_uploads import ImageSource, client_named, data_url_bytes, saved_images
from polymodal.server.state import ServerState, server_state

router = APIRouter(tags=["moderations"])

#: OpenAI's 13 category keys, in its order.
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
#: OpenAI's key -> our image category that means the same in a picture.
FROM_IMAGE = {
    "sexual": "sexual",
    "self-harm": "self_harm",
    "violence": "violence",
    "violence/graphic": "violence",
}
MAX_IMAGES = 8  # images in one input list
MAX_TEXTS = 2048
DEFAULT_MODEL = "omni-moderation-latest"
TEXT_NOTICE = (
    "Text is not scored: polymodal's moderation judges images with CLIP, which cannot judge "
    "what a text says; text categories are false with score 0."
)


class ImageURL(BaseModel):
    url: str


class ImageItem(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


class TextItem(BaseModel):
    type: Literal["text"]
    text: str


Item = Annotated[TextItem | ImageItem, Field(discriminator="type")]


class ModerationRequest(BaseModel):
    """OpenAI's request body; unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    input: str | list[str] | list[Item]
    model: str | None = None


def _images(request: ModerationRequest) -> list[ImageSource]:
    """The data URLs' bytes of a multimodal input, checked (links refused, a count bound)."""
    if not isinstance(request.input, list):
        return []
    items = [item for item in request.input if isinstance(item, ImageItem)]
    if len(items) > MAX_IMAGES:
        raise BadInputError(
            f"{len(items)} images is over the limit of {MAX_IMAGES} in one input.", param="input"
        )
    return [
        ImageSource(f"image-{i}", data=data_url_bytes(item.image_url.url, "input"))
        for i, item in enumerate(items, start=1)
    ]


def _input_count(request: ModerationRequest) -> int:
    """How many results the request gets: one per string, one for a multimodal list."""
    value = request.input
    if isinstance(value, str):
        return 1
    if not value:
        raise BadInputError("The input is empty: send a text, texts or images.", param="input")
    if len(value) > MAX_TEXTS:
        raise BadInputError(f"{len(value)} inputs is over the limit of {MAX_TEXTS}.", param="input")
    return len(value) if all(isinstance(v, str) for v in value) else 1


def _screen(state: ServerState, request: ModerationRequest, sources: list[ImageSource]):
    """The blocking part, on an image worker: save and sniff the images (a bad one is refused
    before a model is loaded for it), then screen them. An unreadable image fails the
    request: "not flagged" must never mean "not looked at"."""
    name = state.moderation.resolve(request.model or DEFAULT_MODEL)
    with saved_images(sources, "input") as names, openai_params({"images": "input"}):
        encoder = state.moderation.load(name, polymodal.get_encoder)
        result = polymodal.moderate(list(names), model=encoder, cache=False)
        if result.failures:
            reason = client_named(result.failures[0].reason, names)
            raise BadInputError(f"An image could not be screened: {reason}", param="input")
    return result


def _ours(result: Any) -> dict[str, dict[str, Any]]:
    """Our categories over all the input's images: the highest score, flagged if any is."""
    combined: dict[str, dict[str, Any]] = {}
    for item in result.items:
        for score in item.scores:
            best = combined.setdefault(
                score.category,
                {"score": 0.0, "threshold": score.threshold, "flagged": False},
            )
            best["score"] = max(best["score"], score.score)
            best["flagged"] = best["flagged"] or score.flagged
    return combined


def _result(ours: dict[str, dict[str, Any]], has_text: bool, screened: Any = None) -> dict:
    """One result in OpenAI's shape, with our own categories under ``polymodal``."""
    categories, scores, applied = {}, {}, {}
    for key in OPENAI_CATEGORIES:
        own = ours.get(FROM_IMAGE.get(key, ""))
        categories[key] = bool(own and own["flagged"])
        scores[key] = float(own["score"]) if own else 0.0
        applied[key] = ["image"] if own else []
    notes = [screened.notice] if screened is not None else []
    if has_text:
        notes.append(TEXT_NOTICE)
    return {
        "flagged": any(c["flagged"] for c in ours.values()),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
        "polymodal": {
            "scored_input_types": ["image"] if screened is not None else [],
            "model": screened.model_id if screened is not None else None,
            "categories": ours,
            "notice": " ".join(notes),
        },
    }


def _has_text(value: Any) -> bool:
    return isinstance(value, str | TextItem)


@router.post("/v1/moderations")
async def moderations(
    request: ModerationRequest, state: Annotated[ServerState, Depends(server_state)]
) -> JSONResponse:
    """Screen images (and take texts) in OpenAI's moderation shape
    (``moderations.create``).

    Images are scored by CLIP against polymodal's screening categories: ``sexual``,
    ``violence``, ``violence/graphic`` and ``self-harm`` carry image scores; the other nine
    keys are false/0 (they are about what a text says, or text-only in OpenAI's schema).
    Text is not scored (CLIP cannot judge what a text says): text inputs answer false/0.
    ``flagged`` also counts polymodal's own categories (weapons, drugs, hate symbols, a child
    at risk), listed under ``polymodal``. A screening aid for human review, not a verdict.
    """
    count = _input_count(request)
    sources = _images(request)
    items = request.input if isinstance(request.input, list) else [request.input]
    if sources:
        screened = await state.images.run(_screen, state, request, sources)
        has_text = any(_has_text(item) for item in items)
        results = [_result(_ours(screened), has_text, screened)]
    else:
        state.moderation.resolve(request.model or DEFAULT_MODEL)  # an unknown name is a 404
        results = [_result({}, True) for _ in range(count)]
    body = {"id": f"modr-{uuid.uuid4().hex}", "model": request.model or DEFAULT_MODEL}
    return JSONResponse({**body, "results": results})
