"""Every failure as OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``,
with the status the library's error class carries (``http_status``, ``error_type``, ``param``).

The official client raises its exception types from these statuses (400 ``BadRequestError``,
401 ``AuthenticationError``, 404 ``NotFoundError``, 429 ``RateLimitError``) and reads
``param`` and ``code`` from the body, so a client never sees FastAPI's own ``detail`` shape:
request validation (FastAPI's 422) becomes a 400 naming the field, and unknown routes are
404s in the same shape. The errors only a server meets (a missing key, a full queue, an
upload that is not audio) are the small classes below, under the library's hierarchy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from polymodal.errors import (
    BadInputError,
    BusyError,
    ModelUnavailableError,
    PolymodalError,
    TooLargeError,
)

log = logging.getLogger("polymodal.server")


class UnauthorizedError(PolymodalError):
    """A missing or wrong API key."""

    http_status = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class UnsupportedMediaError(BadInputError):
    """The upload is not the kind of file the route takes (judged by its bytes, not its name)."""

    http_status = 415
    code = "unsupported_media_type"


class QueueFullError(BusyError):
    """Every worker of a family is busy and its queue is full: try again after ``retry_after``."""

    http_status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelNotReadyError(PolymodalError):
    """A model the server should serve is not on this machine (an operator's problem, not the
    client's: hence 503, where an unknown name is a 404)."""

    http_status = 503
    error_type = "server_error"
    code = "model_unavailable"


class StatusError(BadInputError):
    """A client error Starlette found itself: an unknown route, a wrong method, a body it
    could not parse."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.http_status = status


class NotYetImplementedError(PolymodalError):
    """An OpenAI route this server will answer once its family exists."""

    http_status = 501
    error_type = "not_implemented"
    code = "not_implemented"


_CODES: dict[type[PolymodalError], str] = {
    ModelUnavailableError: "model_not_found",
    TooLargeError: "request_too_large",
}


def error_body(error: PolymodalError) -> dict[str, Any]:
    """OpenAI's error object for ``error``; ``code`` from the class, else ``None``."""
    code = getattr(error, "code", None)
    if code is None:
        code = next((c for kind, c in _CODES.items() if isinstance(error, kind)), None)
    return {
        "error": {
            "message": str(error),
            "type": error.error_type,
            "param": error.param,
            "code": code,
        }
    }


def error_response(error: PolymodalError) -> JSONResponse:
    """The response for ``error``: its status, OpenAI's body, and the headers it implies."""
    headers: dict[str, str] = {}
    if isinstance(error, QueueFullError):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(error), status_code=error.http_status, headers=headers)


class ErrorAsHTTPException(HTTPException):
    """A :class:`PolymodalError` raised where only an ``HTTPException`` passes through (from
    inside the request body stream, which FastAPI turns into a bare 400 otherwise)."""

    def __init__(self, error: PolymodalError) -> None:
        super().__init__(status_code=error.http_status, detail=str(error))
        self.error = error


@contextmanager
def openai_params(names: Mapping[str, str]) -> Iterator[None]:
    """Rename a library error's ``param`` (its Python API name, ``initial_prompt``) to the
    request field that carried it (``prompt``), so ``error.param`` names what the client sent."""
    try:
        yield
    except PolymodalError as exc:
        if exc.param in names:
            exc.param = names[exc.param]
        raise


def _field(loc: tuple[Any, ...]) -> str | None:
    """The request field a validation error's location names (``("body", "model")``)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return parts[0] if parts else None


def validation_error(exc: RequestValidationError) -> BadInputError:
    """FastAPI's validation failure as one sentence naming the first bad field."""
    first = exc.errors()[0] if exc.errors() else {}
    field = _field(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    if field is None:
        return BadInputError(f"The request body is not valid: {first.get('msg', 'unreadable')}.")
    if kind == "missing":
        return BadInputError(f"Missing required parameter: '{field}'.", param=field)
    return BadInputError(
        f"Invalid value for '{field}': {first.get('msg', 'invalid')}.", param=field
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in OpenAI's shape: ours, FastAPI's validation, Starlette's 404/405,
    and anything unexpected (a 500 whose traceback goes to the log, not to the client)."""

    @app.exception_handler(PolymodalError)
    async def _polymodal(request: Request, exc: PolymodalError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc, ErrorAsHTTPException):
            return error_response(exc.error)
        if exc.status_code in (404, 405):
            message = f"Invalid URL ({request.method} {request.url.path})."
            return error_response(StatusError(message, exc.status_code))
        return error_response(StatusError(f"{exc.detail}.", exc.status_code))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(PolymodalError("The server hit an unexpected error."))
