"""The error hierarchy: every failure a user can cause or meet carries one plain sentence.

Shells map these to their own conventions (the CLI to an exit code, the server to an HTTP status
and OpenAI's error shape), so library code raises them and never prints or exits itself.
"""

from __future__ import annotations


class PolymodalError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence.

    ``param`` names the offending input by its Python API name (``"enroll"``, ``"labels"``),
    never by a CLI flag: the CLI maps it to its flag, the server to OpenAI's ``error.param``.
    Sentences therefore speak of the value ("an enrolment needs a name and a clip"), not of the
    flag that carried it.
    """

    exit_code: int = 1
    http_status: int = 500
    error_type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class BadInputError(PolymodalError):
    """The caller's input is wrong: a missing or corrupt file, a bad option value."""

    exit_code = 2
    http_status = 400
    error_type = "invalid_request_error"


class NoSpeechError(BadInputError):
    """The input is readable audio but holds no speech to transcribe (silence, noise).

    Its own class because callers differ on it: the CLI reports it like any bad input, while
    the server answers OpenAI's way, with an empty transcript."""


class TooLargeError(BadInputError):
    """The input is over a size limit (file too big, prompt too long, decompression bomb)."""

    http_status = 413


class ModelUnavailableError(PolymodalError):
    """A named model is unknown, or known but not on this machine."""

    exit_code = 3
    http_status = 404
    error_type = "model_not_found"


class DependencyMissingError(PolymodalError):
    """An optional dependency (an extra) is not installed."""

    exit_code = 3
    http_status = 501
    error_type = "not_implemented"


class BusyError(PolymodalError):
    """The service is at capacity; try again later."""

    exit_code = 4
    http_status = 503
    error_type = "server_busy"


class CancelledError(PolymodalError):
    """Long work stopped because its :class:`~polymodal.progress.CancelToken` was set
    (Ctrl-C in the CLI, a client disconnect or timeout in the server)."""

    exit_code = 130
    http_status = 499
    error_type = "cancelled"


def require(module: str, extra: str):
    """Import an optional dependency, or raise a sentence naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyMissingError(
            f"This needs the '{module}' package: install it with pip install 'polymodal[{extra}]'."
        ) from exc
