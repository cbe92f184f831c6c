"""What keeps the server dependable under load: a worker pool per model family, a bound on the
requests each family holds, and a size limit on every request body.

* :class:`FamilyPool` runs a family's blocking model work on its own threads (``workers`` of
  them), so the event loop keeps answering health checks and other families while Whisper
  decodes, and one family's backlog never takes another's threads.
* :class:`Admission` counts a family's requests from their first byte to their last: past
  ``workers + queue`` a request is answered 429 with ``Retry-After`` before its upload is read.
* :class:`BodyLimit` answers 413 from ``Content-Length`` before reading anything, and stops
  a body without one (chunked) as soon as it passes the limit, so a 1 GB upload never
  reaches the disk.

Both middlewares are plain ASGI, outside FastAPI's routing, so they see every request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from polymodal.errors import TooLargeError
from polymodal.server.errors import ErrorAsHTTPException, QueueFullError, error_response
from polymodal.server.settings import MB, FamilyLimits

T = TypeVar("T")
ASGIApp = Callable[..., Any]


class FamilyPool:
    """One model family's workers and its count of admitted requests."""

    def __init__(self, name: str, limits: FamilyLimits, retry_after_s: int) -> None:
        self.name = name
        self.limits = limits
        self.retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(limits.workers, thread_name_prefix=f"pm-{name}")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Requests of this family being served or waiting now."""
        return self._admitted

    def admit(self) -> None:
        """Count one more request in, or raise :class:`QueueFullError` when full."""
        with self._lock:
            if self._admitted >= self.limits.capacity:
                raise QueueFullError(
                    f"The {self.name} workers are busy and {self.limits.queue} requests are "
                    f"already waiting; try again in {self.retry_after_s} s.",
                    retry_after=self.retry_after_s,
                )
            self._admitted += 1

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        """``function(*args)`` on one of this family's threads, awaited without blocking."""
        return await asyncio.wrap_future(self.submit(function, *args))

    def submit(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """``function(*args, **kwargs)`` queued for this family's threads; the future lets a
        caller cancel it before it starts (:mod:`~polymodal.server.watch`)."""
        return self._executor.submit(function, *args, **kwargs)

    def shutdown(self) -> None:
        """Finish the work in flight, then stop the threads (server shutdown drains)."""
        self._executor.shutdown(wait=True)


class Admission:
    """Admit each request of a pooled route through its family's :class:`FamilyPool`."""

    def __init__(self, app: ASGIApp, pools: Mapping[str, FamilyPool]) -> None:
        self.app = app
        self.pools = pools

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        pool = self.pools.get(scope.get("path", "")) if scope["type"] == "http" else None
        if pool is None:
            await self.app(scope, receive, send)
            return
        try:
            pool.admit()
        except QueueFullError as exc:
            await error_response(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            pool.release()


class BodyLimit:
    """Refuse request bodies over a per-route size (``limits``: path -> (bytes, param)); other
    routes get ``default``."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Mapping[str, tuple[int, str | None]],
        default: tuple[int, str | None],
    ) -> None:
        self.app = app
        self.limits = limits
        self.default = default

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, param = self.limits.get(scope.get("path", ""), self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(_too_large(declared, limit, param))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # raised inside the route's body parsing; FastAPI lets HTTPExceptions through
                    raise ErrorAsHTTPException(_too_large(None, limit, param))
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int | None, limit: int, param: str | None) -> TooLargeError:
    over = f"over this route's {_size(limit)} limit"
    what = f"The request is {_size(size)}, {over}" if size is not None else f"The request is {over}"
    return TooLargeError(f"{what}.", param=param)


def _size(count: int) -> str:
    return f"{count / MB:.1f} MB" if count >= MB else f"{count:,} bytes"
