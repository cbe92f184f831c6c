"""The application: :func:`create_app` builds the FastAPI app for one :class:`ServerSettings`.

Layers a request passes, outside in: the request metrics (:mod:`~polymodal.server.metrics`),
the API key (:mod:`~polymodal.server.security`), the body size limit and the family's
admission (:mod:`~polymodal.server.limits`), FastAPI's routing with every error in OpenAI's
shape (:mod:`~polymodal.server.errors`), then one route module per family
(:mod:`polymodal.server.openai`, and polymodal's own in :mod:`polymodal.server.routes`).
Shutdown drains the family pools, so work in flight finishes before the process exits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import polymodal
from polymodal.server import routes
from polymodal.server.errors import install_error_handlers
from polymodal.server.limits import Admission, BodyLimit
from polymodal.server.metrics import Metrics, RequestMetrics
from polymodal.server.metrics import router as metrics_router
from polymodal.server.openai import ROUTERS
from polymodal.server.security import BearerAuth
from polymodal.server.settings import ServerSettings
from polymodal.server.state import ServerState

AUDIO_ROUTES = ("/v1/audio/transcriptions", "/v1/audio/translations")
DIARIZE_ROUTES = ("/v1/polymodal/diarize",)
EMBEDDING_ROUTES = ("/v1/embeddings",)
GENERATION_ROUTES = ("/v1/images/generations", "/v1/images/edits")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The OpenAI-compatible app for ``settings`` (checked: a host other than loopback without
    an API key is refused with a sentence, as ``polymodal serve`` refuses it)."""
    settings = (settings or ServerSettings()).checked()
    state = ServerState.of(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.shutdown()

    app = FastAPI(
        title="polymodal",
        version=polymodal.__version__,
        summary="OpenAI-compatible speech, embeddings, moderation and images, from local models.",
        lifespan=lifespan,
    )
    app.state.polymodal = state
    install_error_handlers(app)
    for router in (*ROUTERS, *routes.ROUTERS, metrics_router):
        app.include_router(router)
    app.state.polymodal_metrics = metrics = Metrics(state)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (no key needed, nothing loaded)."""
        return {"status": "ok"}

    pools = {path: state.speech for path in AUDIO_ROUTES}
    pools |= {path: state.embeddings for path in EMBEDDING_ROUTES}
    pools |= {path: state.generation for path in GENERATION_ROUTES}
    pools |= {path: getattr(state, pool) for path, pool in routes.POOLS.items()}
    app.add_middleware(Admission, pools=pools)
    audio_limit = (settings.max_audio_bytes, "file")
    app.add_middleware(
        BodyLimit,
        limits=dict.fromkeys((*AUDIO_ROUTES, *DIARIZE_ROUTES), audio_limit),
        default=(settings.max_json_bytes, None),
    )
    if settings.api_key:
        app.add_middleware(BearerAuth, api_key=settings.api_key)
    app.add_middleware(RequestMetrics, metrics=metrics)  # added last: outermost
    return app
