"""``polymodal models``: the catalogue and what is available offline."""

from __future__ import annotations

import typer
from rich.table import Table

from polymodal import catalog
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
    infos = catalog.list_models(family)
    rows = [
        {
            "name": info.spec.name,
            "family": info.spec.family,
            "source": info.spec.source,
            "size_mb": round(catalog.disk_size_mb(info), 1),
            "memory_mb": info.spec.memory_mb,
            "available": info.available,
            "default": info.spec.default,
            "path": str(info.path) if info.path else None,
            "note": info.note,
        }
        for info in infos
    ]
    if json_out:
        print_json(rows)
        return
    table = Table("name", "family", "MB", "offline", "source", "note")
    table.columns[0].no_wrap = True
    table.columns[4].overflow = "fold"
    for row in rows:
        mark = "[green]yes[/]" if row["available"] else "[red]no[/]"
        name = row["name"] + (" *" if row["default"] else "")
        size = f"{row['size_mb']:.0f}"
        table.add_row(name, row["family"], size, mark, row["source"], row["note"])
    console.print(table)
    console.print("* default of its family")
