"""The API key: when one is set, every request but the liveness probe must carry it.

Checked as ``Authorization: Bearer <key>`` (what the official client sends from its
``api_key``), in constant time (:func:`hmac.compare_digest`), before the request's body is
read, so a caller without the key cannot make the server spool an upload. ``GET /healthz``
stays open because liveness probes carry no key; it says nothing but "ok". So do the web page
(``GET /``) and its static files (``/web/...``): they hold no data, and the page's own calls
to the API carry the key the user types into it.

WebSockets (``/v1/realtime``) are checked before the upgrade too: the header, or the key as
browsers must send it, in the subprotocol ``openai-insecure-api-key.<key>`` (what OpenAI's
realtime clients send where no header can be set). A refused upgrade is answered 401 in
OpenAI's shape where the server can send a response (uvicorn can), else closed (403).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from polymodal.server.errors import UnauthorizedError, error_response

OPEN_ROUTES = frozenset({("GET", "/healthz"), ("HEAD", "/healthz")})
PAGE_PREFIX = "/web/"
KEY_SUBPROTOCOL = "openai-insecure-api-key."


class BearerAuth:
    """ASGI middleware refusing requests without ``Authorization: Bearer <key>`` (401)."""

    def __init__(self, app: Callable[..., Any], api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "websocket":
            error = self._refusal(_header(scope, b"authorization") or _subprotocol_key(scope))
            if error is not None:
                await _refuse_upgrade(error, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or _open(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        error = self._refusal(_header(scope, b"authorization"))
        if error is not None:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, header: bytes | None) -> UnauthorizedError | None:
        if not header:
            return UnauthorizedError(
                "This server needs an API key: send it as 'Authorization: Bearer KEY'."
            )
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
            return UnauthorizedError("Incorrect API key provided.")
        return None


def _open(method: str, path: str) -> bool:
    """Whether a request needs no key: the liveness probe, and reading the page's files."""
    page = method in ("GET", "HEAD") and (path == "/" or path.startswith(PAGE_PREFIX))
    return page or (method, path) in OPEN_ROUTES


def _header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def _subprotocol_key(scope: dict) -> bytes | None:
    """The key a browser sends as a WebSocket subprotocol, as a bearer header."""
    for offered in scope.get("subprotocols") or ():
        if offered.startswith(KEY_SUBPROTOCOL):
            return b"Bearer " + offered[len(KEY_SUBPROTOCOL) :].encode()
    return None


async def _refuse_upgrade(error: UnauthorizedError, scope: dict, receive, send) -> None:
    """Refuse a WebSocket before accepting it: a 401 with OpenAI's body where the server
    offers the denial-response extension, else a close (which servers answer with 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    response = error_response(error)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    start = {"type": "websocket.http.response.start", "status": response.status_code}
    await send({**start, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": response.body})
