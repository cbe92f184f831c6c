"""``POST /v1/embeddings``: CLIP text embeddings in OpenAI's shape.

OpenAI's embedding names (``text-embedding-3-small``, ``-3-large``, ``text-embedding-ada-002``)
and ``clip`` mean the server's default CLIP model; catalogue names mean themselves. The vectors
are CLIP's, L2-normalised like OpenAI's, so cosine similarity is a dot product; they live in
CLIP's space (text beside images), not OpenAI's, and are as long as the model's embedding
(``dimensions`` must equal it: CLIP vectors cannot be shortened as OpenAI's v3 ones can).
``encoding_format="base64"`` (what the official client asks for unless told otherwise) is the
little-endian float32 bytes, base64-encoded. Texts past CLIP's 77 tokens are truncated.
The texts are not cached on disk: a server's inputs are its clients' business.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.state import ServerState, server_state

router = APIRouter(tags=["embeddings"])

MAX_INPUTS = 2048  # OpenAI's limit on one request's list


class EmbeddingRequest(BaseModel):
    """OpenAI's request body; ``user`` and unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Field(gt=0)] | None = None
    user: str | None = None

    def texts(self) -> list[str]:
        """The texts to embed, checked as OpenAI checks them."""
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


def _embed(state: ServerState, request: EmbeddingRequest, texts: list[str]):
    """The blocking part, on an embedding worker: the shared encoder, its vectors, tokens."""
    encoder = state.clip.load(state.clip.resolve(request.model), polymodal.get_encoder)
    if request.dimensions is not None and request.dimensions != encoder.dim:
        raise BadInputError(
            f"This model's embeddings have {encoder.dim} dimensions; dimensions must be "
            f"{encoder.dim} or left out, not {request.dimensions}.",
            param="dimensions",
        )
    vectors = polymodal.embed_texts(texts, model=encoder, cache=False)
    _, mask = encoder.tokenize(texts)
    return vectors, int(mask.sum())


def _encoded(vector: np.ndarray, encoding_format: str) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(np.float32).tolist()


@router.post("/v1/embeddings")
async def embeddings(
    request: EmbeddingRequest, state: Annotated[ServerState, Depends(server_state)]
) -> JSONResponse:
    """Texts to CLIP embeddings (OpenAI's ``embeddings.create``)."""
    texts = request.texts()
    vectors, tokens = await state.embeddings.run(_embed, state, request, texts)
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(v, request.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return JSONResponse({"object": "list", "data": data, "model": request.model, "usage": usage})
