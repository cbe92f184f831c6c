"""``GET /v1/models`` and ``GET /v1/models/{model}``: what a request's ``model`` may name.

OpenAI's records (``id``, ``object: "model"``, ``created``, ``owned_by``) for the names the
server answers to: OpenAI's aliases (which stand for the server's default model of their family) and
every catalogue entry of the families served, with our extras ``family`` and ``available``
(whether its weights are on this machine now).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

import polymodal
from polymodal.server.state import ServerState, server_state

router = APIRouter(tags=["models"])


def _records(state: ServerState) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for names in (state.whisper, state.clip, state.diffusion):
        records += [_record(state, alias, names.family, True) for alias in names.aliases]
        records += [
            _record(state, info.name, info.family, info.available)
            for info in polymodal.list_models(names.family)
        ]
    return records


def _record(state: ServerState, name: str, family: str, available: bool) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": state.started,
        "owned_by": "polymodal",
        "family": family,
        "available": available,
    }


@router.get("/v1/models")
async def list_models(state: Annotated[ServerState, Depends(server_state)]) -> dict[str, Any]:
    """Every model name the server answers to (OpenAI's ``models.list``)."""
    return {"object": "list", "data": _records(state)}


@router.get("/v1/models/{model}")
async def retrieve_model(
    model: str, state: Annotated[ServerState, Depends(server_state)]
) -> dict[str, Any]:
    """One model's record, or a 404 (OpenAI's ``models.retrieve``)."""
    for record in _records(state):
        if record["id"] == model:
            return record
    raise polymodal.ModelUnavailableError(
        f"The model '{model}' does not exist on this server.", param="model"
    )
