"""``POST /v1/images/generations``, ``/edits`` and ``/variations``: a clear 501 in OpenAI's
shape until the generation room exists, so a client learns why rather than meeting a 404."""

from __future__ import annotations

from fastapi import APIRouter

from polymodal.server.errors import NotYetImplementedError

router = APIRouter(tags=["images"])


@router.post("/v1/images/generations")
@router.post("/v1/images/edits")
@router.post("/v1/images/variations")
async def images() -> None:
    """Not served yet: image generation arrives with polymodal's diffusion room."""
    raise NotYetImplementedError(
        "Image generation is not available on this server yet; it arrives with polymodal's "
        "diffusion models."
    )
