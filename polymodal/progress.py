"""Progress and cancellation: one protocol for every long task.

Long work reports :class:`Progress` records to a callback (the CLI draws a Rich bar, the server
keeps a job status) and checks a :class:`CancelToken` between units of work (the CLI sets it on
Ctrl-C, the server on a client disconnect or a timeout). Library code never draws anything and
never installs signal handlers itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from polymodal.errors import CancelledError


@dataclass(frozen=True)
class Progress:
    """One report: ``done`` of ``total`` ``unit`` finished in ``stage``.

    ``total`` is ``None`` while unknown. ``stage`` names the step the user would recognise
    ("transcribe", "embed", "hash", "compare"); a task with several stages reports each with
    its own total, so a bar restarts at 0 only when the stage changes.
    """

    stage: str
    done: float
    total: float | None
    unit: str = ""

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or ``None`` while the total is unknown."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


def no_progress(report: Progress) -> None:
    """The default callback: report nothing."""


class Reporter:
    """A callback bound to one stage and unit, so a loop reports with ``reporter(done, total)``.

    It also checks the cancel token at every report, so work that reports progress is
    cancellable at the same points without a second mechanism.
    """

    def __init__(
        self,
        callback: ProgressCallback | None,
        stage: str,
        unit: str = "",
        cancel: CancelToken | None = None,
    ) -> None:
        self._callback = callback or no_progress
        self.stage = stage
        self.unit = unit
        self._cancel = cancel

    def __call__(self, done: float, total: float | None) -> None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()
        self._callback(Progress(self.stage, float(done), total, self.unit))


class CancelToken:
    """A thread-safe flag a caller sets to stop long work at the next safe point.

    Work stopped this way raises :class:`~polymodal.errors.CancelledError`; whatever it had
    already written (finished files, committed batches) stays valid.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError(f"The work was stopped: {self.reason}.")


def check_cancelled(token: CancelToken | None) -> None:
    """Raise :class:`~polymodal.errors.CancelledError` if ``token`` is set (``None`` never is)."""
    if token is not None:
        token.raise_if_cancelled()
