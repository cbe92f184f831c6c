"""The Typer application and what every command shares: errors, JSON output, progress bars.

Commands live in one module per family (``cli/speech.py``, ``cli/vision.py`` ...) and stay thin:
parse, call the public Python API, render.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from polymodal.errors import PolymodalError
from polymodal.progress import ProgressCallback

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


def guarded(function: F) -> F:
    """Turn a :class:`PolymodalError` into its sentence on stderr and the error's exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PolymodalError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths, enums, numpy values and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return value


def print_json(value: Any) -> None:
    """Write ``value`` as JSON on stdout (plain, so it pipes into jq)."""
    sys.stdout.write(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(
    description: str, unit: str = "", enabled: bool = True
) -> Iterator[ProgressCallback]:
    """A Rich bar with ETA fed by the library's ``(completed, total)`` callback; on stderr."""
    if not enabled or not err_console.is_terminal:
        yield lambda completed, total: None
        return
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} " + unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(completed: float, total: float | None) -> None:
            bar.update(task, completed=completed, total=total)

        yield update
