"""Model work that stops when nobody waits for it: a request's deadline, and a client that
hangs up.

:class:`WatchedWork` runs a blocking generator (a transcription yielding its segments, then
its transcript) on a family's thread with a fresh :class:`polymodal.CancelToken`, and hands
each item to the event loop as it comes, so a route can stream them. While the route waits it
also watches the deadline (``request_timeout_s``, the wait for a free worker included) and the
connection. Past the deadline the token is set and the route gets :class:`RequestTimeoutError`
(504); when the client leaves, the token is set and the route gets
:class:`polymodal.CancelledError` (499, which nobody reads). The library checks the token
between windows, so the thread stops at the next one.

Why a route waits for the thread to stop before it answers: the family's admission count
(:class:`~polymodal.server.limits.Admission`) is released when the route returns. Returning at
once would let a new request in while the abandoned one still holds the thread, and a client
retrying after timeouts could then stack work behind work nobody wants. The wait is at most
one window of decoding, and :data:`STOP_GRACE_S` bounds it in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import anyio
from fastapi import Request

import polymodal
from polymodal.errors import PolymodalError
from polymodal.server.limits import FamilyPool

T = TypeVar("T")

log = logging.getLogger("polymodal.server")

#: Seconds a route waits for cancelled work to reach its next safe point before it lets go.
STOP_GRACE_S = 30.0

_ITEM, _ERROR, _END = "item", "error", "end"


class RequestTimeoutError(PolymodalError):
    """A request's model work ran past the server's ``request_timeout_s``."""

    http_status = 504
    error_type = "server_error"
    code = "timeout"


class WatchedWork(Generic[T], AsyncIterator[T]):
    """``function(*args, cancel=token)``, a generator, run on ``pool``'s thread for
    ``request``; iterate it (``async for``) to get its items as they are made.

    Iteration raises the work's own error, :class:`RequestTimeoutError` past the deadline, or
    :class:`polymodal.CancelledError` when the client has gone. Call :meth:`close` when done
    (a ``finally``): it cancels work still running and waits for its thread to stop.
    """

    def __init__(
        self,
        request: Request,
        pool: FamilyPool,
        timeout_s: float,
        function: Callable[..., Iterator[T]],
        /,
        *args: Any,
    ) -> None:
        self.cancel = polymodal.CancelToken()
        self.timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + timeout_s
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._gone = asyncio.ensure_future(_client_gone(request))
        self._future: Future[None] = pool.submit(self._produce, function, args)
        self._finished = False

    def _produce(self, function: Callable[..., Iterator[T]], args: tuple) -> None:
        """On the worker thread: run the generator, posting each item to the event loop."""
        try:
            for item in function(*args, cancel=self.cancel):
                self._post(_ITEM, item)
        except BaseException as exc:  # handed to the route, which raises it there
            self._post(_ERROR, exc)
        else:
            self._post(_END, None)

    def _post(self, kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to read it
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))

    def __aiter__(self) -> WatchedWork[T]:
        return self

    async def __anext__(self) -> T:
        if self._finished:
            raise StopAsyncIteration
        getter = asyncio.ensure_future(self._queue.get())
        remaining = max(0.0, self._deadline - self._loop.time())
        try:
            done, _ = await asyncio.wait(
                {getter, self._gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            getter.cancel()
        if getter in done:
            kind, value = getter.result()
            if kind == _ITEM:
                return value
            self._finished = True
            if kind == _ERROR:
                raise value
            raise StopAsyncIteration
        if self._gone in done:
            await self.close("the client disconnected")
            raise polymodal.CancelledError("The client disconnected; its work was stopped.")
        await self.close(f"it ran past the server's {self.timeout_s:g} s request timeout")
        raise RequestTimeoutError(
            f"The request ran past the server's {self.timeout_s:g} s timeout and was stopped; "
            "send a smaller request or ask the operator to raise --request-timeout.",
        )

    async def close(self, reason: str = "the request ended") -> None:
        """Stop the work (the token is set; queued work never starts) and wait, shielded from
        the route's own cancellation, until its thread has let go (at most
        :data:`STOP_GRACE_S`)."""
        self._finished = True
        self._gone.cancel()
        if self._future.done():
            return
        self.cancel.cancel(reason)
        self._future.cancel()
        with anyio.CancelScope(shield=True):
            stopped = asyncio.wrap_future(self._future)
            await asyncio.wait({stopped}, timeout=STOP_GRACE_S)
        if not self._future.done():
            log.warning("cancelled work still runs after %.0f s (%s)", STOP_GRACE_S, reason)


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects. The body has been read by now, so the next
    message the server sends the app is ``http.disconnect`` (at the latest when the
    response is complete; this watcher is cancelled before then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
