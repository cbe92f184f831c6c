"""The Typer application and what every command shares: errors, JSON output, progress bars,
and Ctrl-C as cancellation.

Commands live in one module per family (``cli/speech.py``, ``cli/vision.py`` ...) and stay thin:
parse, build the typed options, call the public Python API (``polymodal``), render.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from polymodal import render
from polymodal.errors import PolymodalError
from polymodal.progress import CancelToken, ProgressCallback
from polymodal.progress import Progress as Report

app = typer.Typer(
    name="polymodal",
    help="CLIP, Whisper and Stable Diffusion as dependable local tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

#: API parameter name -> the CLI flag that carries it, where the flag is not simply
#: ``--`` + the name with dashes (``""`` for a positional argument, which the sentence already
#: names). Command modules add their own entries.
FLAG_FOR_PARAM: dict[str, str] = {}


def flag_for(param: str) -> str:
    """The CLI flag a user typed for the API parameter ``param`` (``word_timestamps`` ->
    ``--word-timestamps``)."""
    return FLAG_FOR_PARAM.get(param, "--" + param.replace("_", "-"))


def error_line(error: PolymodalError) -> str:
    """The error's sentence, with the flag it concerns when the error names a parameter."""
    message = str(error)
    param = getattr(error, "param", None)
    flag = flag_for(param) if param else ""
    if flag:
        message = f"{message} ({flag})"
    return message


def guarded(function: F) -> F:
    """Turn a :class:`PolymodalError` into its sentence on stderr and the error's exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PolymodalError as exc:
            err_console.print(
                f"[bold red]error:[/] {error_line(exc)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    """Write ``value`` through the library's one serialiser as JSON on stdout (pipes into jq)."""
    sys.stdout.write(render.to_json(value) + "\n")
    sys.stdout.flush()


@contextmanager
def cancel_on_interrupt() -> Iterator[CancelToken]:
    """A cancel token set by the first Ctrl-C, so long work stops at its next safe point and
    keeps what it finished; a second Ctrl-C interrupts at once."""
    token = CancelToken()
    if sys.platform == "win32" or not _in_main_thread():
        yield token
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel("interrupted")
        err_console.print("[yellow]stopping after the current step (Ctrl-C again to quit now)[/]")

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class RateColumn(ProgressColumn):
    """Items per second (images/s, files/s) beside the bar, once Rich has measured it."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit") or "items"
        return Text(f"{speed:.1f} {unit}/s" if speed else "", style="progress.data.speed")


@contextmanager
def progress_bar(
    description: str, unit: str = "", enabled: bool = True
) -> Iterator[ProgressCallback]:
    """A Rich bar with ETA fed by the library's :class:`~polymodal.progress.Progress` reports;
    on stderr. A report from a new stage starts a new line named after the stage."""
    if not enabled or not err_console.is_terminal:
        yield lambda report: None
        return
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(report: Report) -> None:
            if report.stage not in tasks:
                label = description if not tasks else f"{description}: {report.stage}"
                tasks[report.stage] = bar.add_task(label, total=None, unit=report.unit or unit)
            bar.update(tasks[report.stage], completed=report.done, total=report.total)

        yield update
