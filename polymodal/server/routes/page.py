"""The web page at ``/``: plain HTML, CSS and ES modules from ``polymodal/server/web/``, a thin
client of the API routes (no build step, nothing fetched from elsewhere, so it works offline).

Only the files shipped in that folder are served, looked up by name in a table made from the
folder's listing: a request's path is a key into that table, never joined to a file-system
path, so ``/web/../settings.py`` is a 404 like any other unknown name. The page and its files
hold no data, so they load without the API key (:mod:`~polymodal.server.security`); the
page's calls to the API send the key typed into its header.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from polymodal.server.errors import StatusError

WEB = Path(__file__).resolve().parent.parent / "web"
#: Served kinds of file by suffix; anything else in the folder is not served.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
#: The page changes with the package: a browser asks again rather than run a stale script.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@cache
def assets() -> dict[str, tuple[Path, str]]:
    """``relative/name.js`` -> (file, media type) for every servable file of the page."""
    table = {}
    for path in sorted(WEB.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type and path.is_file():
            table[path.relative_to(WEB).as_posix()] = (path, media_type)
    return table


def _served(name: str) -> Response:
    found = assets().get(name)
    if found is None:
        raise StatusError(f"The page has no file named '{name}'.", 404)
    path, media_type = found
    return Response(path.read_bytes(), media_type=media_type, headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
async def page() -> Response:
    """The web page."""
    return _served("index.html")


@router.api_route("/web/{name:path}", methods=["GET", "HEAD"])
async def web_file(name: str) -> Response:
    """One of the page's own files (style, scripts)."""
    return _served(name)
