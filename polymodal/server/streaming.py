"""Server-sent events as OpenAI streams them: data-only lines, one JSON object each.

``data: {...}`` and a blank line per event, no ``event:`` or ``id:`` fields, and an error
mid-stream as ``data: {"error": {...}}`` (OpenAI's error object), which the official client
raises as ``openai.APIError``. Nothing follows the last event: OpenAI's transcription
streams end with their ``*.done`` event, not with ``[DONE]``.

Why Starlette's ``StreamingResponse`` and not sse-starlette: the format here is one line a
event, and sse-starlette stops every stream when the server is asked to shut down, where this
server lets streams in flight finish (shutdown drains). The response is sent unbuffered
(``X-Accel-Buffering: no`` for a proxy in front) and Starlette cancels the generator when
the client disconnects, which cancels the work (:mod:`~polymodal.server.watch`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi.responses import StreamingResponse

from polymodal.errors import PolymodalError
from polymodal.server.errors import error_body

log = logging.getLogger("polymodal.server")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: Mapping[str, Any]) -> bytes:
    """One data-only event."""
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


def error_event(error: BaseException) -> dict[str, Any]:
    """OpenAI's error object for a failure after the stream began (its HTTP status was
    already sent as 200); anything not ours is logged and told plainly."""
    if not isinstance(error, PolymodalError):
        log.error("unexpected error in a stream", exc_info=error)
        error = PolymodalError("The server hit an unexpected error.")
    return error_body(error)


async def _encoded(events: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield sse(event)
    except Exception as exc:  # every failure becomes the stream's error event
        yield sse(error_event(exc))


def event_stream(events: AsyncIterator[Mapping[str, Any]]) -> StreamingResponse:
    """``events`` as a ``text/event-stream`` response; an error they raise ends the stream
    as an error event."""
    return StreamingResponse(_encoded(events), media_type="text/event-stream", headers=HEADERS)
