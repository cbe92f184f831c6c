"""The ``polymodal`` command: one module per family registers its commands on one Typer app."""

from __future__ import annotations

import importlib

from polymodal.cli.app import app

_COMMAND_MODULES = ("models", "speech", "embed", "vision", "advisor", "search", "serve", "generate")


def _register() -> None:
    """Import each command module; importing one registers its commands on ``app``."""
    for name in _COMMAND_MODULES:
        importlib.import_module(f"polymodal.cli.{name}")


def main() -> None:
    _register()
    app()


__all__ = ["app", "main"]
