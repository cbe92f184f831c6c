"""``GET /readyz``: ready when the server's default models can be loaded on this machine.

Liveness (``/healthz``, in ``app.py``) says the process answers; readiness says a request
would be served. The check asks the catalogue whether each default (the configured Whisper
and CLIP models) is available offline, where its weights are, without loading them: a
probe every few seconds must not pull gigabytes into memory or evict a resident model. A
default given as a folder must exist. Not ready is a 503 with one sentence per model
explaining what is missing; ready is a 200 naming the models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

import polymodal
from polymodal.server.names import ModelNames
from polymodal.server.state import ServerState, server_state

router = APIRouter(tags=["health"])


def _problem(names: ModelNames) -> tuple[str, str | None]:
    """The default model of ``names``' family and why it cannot be loaded (``None``: it can)."""
    name = names.default or polymodal.default_model(names.family)
    known = {info.name: info for info in polymodal.list_models(names.family)}
    if name in known:
        info = known[name]
        missing = f"{name} is not on this machine ({info.note}); polymodal models list says more."
        return name, None if info.available else missing
    if Path(name).expanduser().is_dir():
        return name, None
    return name, f"{name} is neither a catalogue {names.family} model nor a model folder here."


def readiness(state: ServerState) -> tuple[dict[str, str], list[str]]:
    """Each default model by family, and the reasons the server is not ready (none: ready)."""
    models, reasons = {}, []
    for names in (state.whisper, state.clip):
        name, problem = _problem(names)
        models[names.family] = name
        if problem:
            reasons.append(problem)
    return models, reasons


@router.get("/readyz")
def readyz(state: Annotated[ServerState, Depends(server_state)]) -> JSONResponse:
    """Readiness: 200 when every default model is available offline, else 503 with reasons
    (weights are found, not loaded). A plain function: FastAPI runs it on its own threads,
    so a probe never queues behind model work."""
    models, reasons = readiness(state)
    if reasons:
        return JSONResponse(
            {"status": "unready", "models": models, "reasons": reasons}, status_code=503
        )
    return JSONResponse({"status": "ready", "models": models})
