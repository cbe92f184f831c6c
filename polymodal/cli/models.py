"""``polymodal models``: the catalogue and what is available offline."""

from __future__ import annotations

import typer
from rich.table import Table

import polymodal
from polymodal.cli.app import app, console, guarded, print_json

models_app = typer.Typer(help="The model catalogue.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@guarded
def list_models(
    family: str = typer.Option(None, help="Only this family (whisper, voice, clip, detector)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every named model, its source, size, and whether it works offline now."""
    infos = polymodal.list_models(family)
    if json_out:
        print_json(infos)
        return
    table = Table("name", "family", "MB", "offline", "source", "note")
    table.columns[0].no_wrap = True
    table.columns[4].overflow = "fold"
    for info in infos:
        mark = "[green]yes[/]" if info.available else "[red]no[/]"
        name = info.name + (" *" if info.default else "")
        table.add_row(name, info.family, f"{info.size_mb:.0f}", mark, info.source, info.note)
    console.print(table)
    console.print("* default of its family")
