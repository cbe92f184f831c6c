"""OpenAI's routes, one module per family: ``audio``, ``embeddings``, ``models``, ``images``.

Each module parses OpenAI's request fields, calls the public API (``polymodal``) on its
family's workers, and writes OpenAI's response shape; none holds model logic of its own.
"""

from polymodal.server.openai import audio, embeddings, images, models

ROUTERS = (audio.router, embeddings.router, models.router, images.router)

__all__ = ["ROUTERS"]
