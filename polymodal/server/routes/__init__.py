"""polymodal's own routes, under ``/v1/polymodal/...``, beside OpenAI's: one module per room.

``vision`` (classify, similarity, dedup, moderate, count), ``advisor`` (check),
``collections`` (list, search, add) and ``speech`` (diarize), plus ``health`` (``/readyz``)
and ``page`` (the web page at ``/`` and its files under ``/web/``).
Each parses, calls the public API on its family's pool, and answers the result as
:func:`polymodal.to_data` writes it, so the JSON is the CLI's ``--json``.

:data:`POOLS` says which family pool admits each route (``app.py`` hands it to the admission
middleware: a full family answers 429 before the upload is read).
"""

from polymodal.server.routes import advisor, collections, health, page, speech, vision

ROUTERS = (
    vision.router,
    advisor.router,
    collections.router,
    speech.router,
    health.router,
    page.router,
)

_PREFIX = "/v1/polymodal"
#: Route path -> the :class:`~polymodal.server.state.ServerState` pool that admits it.
POOLS = {
    f"{_PREFIX}/classify": "images",
    f"{_PREFIX}/similarity": "images",
    f"{_PREFIX}/dedup": "images",
    f"{_PREFIX}/moderate": "images",
    f"{_PREFIX}/count": "images",
    f"{_PREFIX}/collections": "images",
    f"{_PREFIX}/collections/search": "images",
    f"{_PREFIX}/collections/add": "images",
    f"{_PREFIX}/check": "advisor",
    f"{_PREFIX}/diarize": "speech",
    "/v1/moderations": "images",
}

__all__ = ["POOLS", "ROUTERS"]
