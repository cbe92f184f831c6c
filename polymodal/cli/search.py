"""``polymodal index``, ``search`` and ``collections``: photo collections from the shell.

``index`` brings a collection up to date with folders (only what changed is read) and prints
what changed; ``search`` finds images by words or by example, says plainly when nothing matches
and can write a contact sheet. Both call the public API and render its records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import polymodal
from polymodal.cli.app import (
    FLAG_FOR_PARAM,
    app,
    cancel_on_interrupt,
    console,
    err_console,
    guarded,
    print_json,
    progress_bar,
)

FLAG_FOR_PARAM.update({"folder": "", "query": "", "k": "--top", "image": "--image"})

CollectionOption = Annotated[
    str, typer.Option("--collection", "-c", help="Collection name (letters, digits, - and _).")
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database folder or URI (default: <POLYMODAL_HOME>/collections)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("index")
@guarded
def index_command(
    folders: Annotated[list[Path], typer.Argument(help="Folders (walked recursively) or files.")],
    collection: CollectionOption = "photos",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="CLIP model for a new collection.")
    ] = None,
    db: DbOption = None,
    optimize: Annotated[
        bool, typer.Option("--optimize", help="Build the vector index now, whatever the size.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    ray: Annotated[
        bool, typer.Option("--ray", help="Embed on a Ray cluster (the ray extra).")
    ] = False,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster: auto, or ray://HEAD:10001 (default: local)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List skipped files.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Index images into a collection: new and changed ones embedded, moved ones re-pointed,
    deleted ones removed, unchanged ones not read. Safe to stop and run again."""
    target = polymodal.Collection(collection, db=db, model=model)
    with (
        progress_bar("Indexing", "images", enabled=not json_out) as progress,
        cancel_on_interrupt() as cancel,
    ):
        report = target.add(
            folders,
            batch_size=batch_size,
            ray=ray or address is not None,
            address=address,
            progress=progress,
            cancel=cancel,
        )
        if optimize:
            report = _with_index(report, target.optimize())
    if json_out:
        print_json(report)
        return
    _render_report(report, verbose)


def _with_index(report: Any, index: str) -> Any:
    from dataclasses import replace

    return replace(report, index=index)


def _render_report(report: Any, verbose: bool) -> None:
    console.print(
        f"{report.collection}: {report.added} added, {report.updated} updated, "
        f"{report.moved} moved, {report.removed} removed, {report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped; {report.total} images "
        f"({report.embedded} embedded in {report.seconds:.1f} s; index: {report.index})",
        highlight=False,
    )
    if report.skipped and not verbose:
        err_console.print(f"[yellow]{len(report.skipped)} files skipped[/] (--verbose lists them)")
    for skipped in report.skipped if verbose else ():
        err_console.print(f"[yellow]skipped:[/] {skipped.reason}", highlight=False)


@app.command("search")
@guarded
def search_command(
    query: Annotated[str | None, typer.Argument(help="What to look for, in words.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", "-i", help="Find images like this one.")
    ] = None,
    collection: CollectionOption = "photos",
    db: DbOption = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="At most this many hits.")] = 20,
    where: Annotated[
        str | None, typer.Option("--where", help='SQL filter, e.g. "width > 1000".')
    ] = None,
    after: Annotated[
        str | None, typer.Option("--after", help="Taken on or after YYYY-MM-DD.")
    ] = None,
    before: Annotated[str | None, typer.Option("--before", help="Taken before YYYY-MM-DD.")] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="Camera make or model.")] = None,
    min_score: Annotated[
        float | None,
        typer.Option("--min-score", help="Cosine floor instead of the confidence cutoff."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a contact sheet (self-contained HTML).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Search a collection by words or by an example image."""
    result = polymodal.search_images(
        query,
        image=image,
        collection=collection,
        db=db,
        k=top,
        where=where,
        after=after,
        before=before,
        camera=camera,
        min_score=min_score,
    )
    notes = tuple(f"'{a.label}' ({a.kind}): {a.reason}" for a in result.advice)
    if html is not None:
        polymodal.write_contact_sheet(result, html, notes)
        err_console.print(f"contact sheet: {html}", highlight=False)
    if json_out:
        print_json(result)
        return
    _render_hits(result, notes)


def _render_hits(result: Any, notes: tuple[str, ...]) -> None:
    for note in notes:
        err_console.print(f"[yellow]advisor[/] {note}", highlight=False)
    for routed in result.routed:
        err_console.print(f"[cyan]routed[/] {routed.reason} Run: {routed.command}")
    if not result.hits:
        console.print(result.message, highlight=False)
        return
    table = Table("rank", "score", "confidence")
    table.add_column("path", overflow="fold")  # whole paths: users copy them
    for hit in result.hits:
        table.add_row(str(hit.rank), f"{hit.score:.3f}", f"{hit.confidence:.0%}", hit.path)
    console.print(table)


@app.command("collections")
@guarded
def collections_command(db: DbOption = None, json_out: JsonOption = False) -> None:
    """List the collections in a database with their model and size."""
    stats = [polymodal.Collection(name, db=db).stats() for name in polymodal.list_collections(db)]
    if json_out:
        print_json(stats)
        return
    if not stats:
        console.print("No collections yet: polymodal index FOLDER creates one.")
        return
    table = Table("collection", "images", "model", "vector index")
    for item in stats:
        table.add_row(item.name, str(item.images), item.model, "yes" if item.indexed else "no")
    console.print(table)
