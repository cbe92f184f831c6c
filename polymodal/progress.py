"""Progress reporting: long work calls a callback; the CLI draws a bar, the server a status.

A callback receives ``(completed, total)`` in the task's own unit (audio seconds, images);
``total`` is ``None`` while unknown. Library code never draws anything itself.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, float | None], None]


def no_progress(completed: float, total: float | None) -> None:
    """The default callback: report nothing."""
