"""The API key: when one is set, every request but the liveness probe must carry it.

Checked as ``Authorization: Bearer <key>`` (what the official client sends from its
``api_key``), in constant time (:func:`hmac.compare_digest`), before the request's body is
read, so a caller without the key cannot make the server spool an upload. ``GET /healthz``
stays open because liveness probes carry no key; it says nothing but "ok".
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from polymodal.server.errors import UnauthorizedError, error_response

OPEN_ROUTES = frozenset({("GET", "/healthz"), ("HEAD", "/healthz")})


class BearerAuth:
    """ASGI middleware refusing requests without ``Authorization: Bearer <key>`` (401)."""

    def __init__(self, app: Callable[..., Any], api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in OPEN_ROUTES:
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


def _header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None
