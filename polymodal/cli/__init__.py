"""The ``polymodal`` command: one module per family registers its commands on one Typer app."""

from __future__ import annotations

import importlib

from polymodal.cli.app import app

_COMMAND_MODULES = ("models", "speech", "embed", "vision", "advisor")


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"polymodal.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"polymodal.cli.{name}":
                raise


def main() -> None:
    _register()
    app()


__all__ = ["app", "main"]
