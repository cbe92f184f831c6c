"""OpenAI's routes, one module per family: ``audio``, ``embeddings``, ``moderations``,
``models``, ``images``, ``realtime`` (the live-captions WebSocket).

Each module parses OpenAI's request fields, calls the public API (``polymodal``) on its
family's workers, and writes OpenAI's response shape; none holds model logic of its own.
"""

from polymodal.server.openai import audio, embeddings, images, models, moderations, realtime

ROUTERS = (
    audio.router,
    embeddings.router,
    moderations.router,
    models.router,
    images.router,
    realtime.router,
)

__all__ = ["ROUTERS"]
