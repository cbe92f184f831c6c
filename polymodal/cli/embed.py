"""``polymodal embed`` (embeddings of images or texts to a file); ``polymodal cache``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import polymodal
from polymodal.cli.app import (
    app,
    cancel_on_interrupt,
    console,
    err_console,
    guarded,
    print_json,
    progress_bar,
)

cache_app = typer.Typer(help="The embedding cache shared by every command.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@app.command("embed")
@guarded
def embed(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output file: .npy (+ .json) or .parquet.")
    ],
    inputs: Annotated[
        list[Path] | None, typer.Argument(help="Image files or folders (walked recursively).")
    ] = None,
    texts: str = typer.Option(None, "--texts", help="Comma-separated texts to embed instead."),
    texts_file: Annotated[
        Path | None, typer.Option("--texts-file", help="A file with one text per line.")
    ] = None,
    model: str = typer.Option(None, "--model", "-m", help="CLIP model name or local folder."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
    int8: bool = typer.Option(None, "--int8/--fp32", help="int8 fast path (POLYMODAL_INT8)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per model call."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Write CLIP embeddings (L2-normalised float32) of images or texts for your own pipelines."""
    wanted = polymodal.read_labels(texts, texts_file, param="texts", comments=False)
    with (
        progress_bar("Embedding", "images", enabled=not json_out) as progress,
        cancel_on_interrupt() as cancel,
    ):
        result = polymodal.export_embeddings(
            out,
            images=inputs or None,
            texts=wanted or None,
            model=model,
            cache=not no_cache,
            batch_size=batch_size,
            int8=int8,
            progress=progress,
            cancel=cancel,
        )
    if json_out:
        print_json(result)
        return
    _render(result)


def _render(result: Any) -> None:
    detail = ""
    if result.kind == "image":
        detail = f" ({result.computed} computed, {result.cached} from cache)"
    console.print(
        f"Embedded {result.count} {result.kind}s{detail} with {result.model_id} "
        f"→ {', '.join(result.files)}",
        highlight=False,
    )
    for failure in result.failures:
        err_console.print(f"[yellow]skipped:[/] {failure.reason}", highlight=False)


@cache_app.command("stats")
@guarded
def stats(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Entries per model and size on disk of the embedding cache."""
    result = polymodal.cache_stats()
    if json_out:
        print_json(result)
        return
    table = Table("model", "images", "texts")
    for row in result.models:
        table.add_row(row.model_id, str(row.images), str(row.texts))
    console.print(table)
    console.print(f"{result.path}: {result.size_bytes / 1e6:.1f} MB", highlight=False)


@cache_app.command("clear")
@guarded
def clear(
    model: str = typer.Option(None, "--model-id", help="Only this model id (see cache stats)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete cached embeddings (all, or one model's)."""
    removed = polymodal.clear_cache(model)
    if json_out:
        print_json({"removed": removed})
    else:
        console.print(f"Removed {removed} cached embeddings.")
