"""``polymodal check``, ``count`` and ``diagnose``: the advisor's commands (parse, call, render)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import polymodal
from polymodal.cli.app import FLAG_FOR_PARAM, app, console, guarded, print_json

FLAG_FOR_PARAM.update({"image": "", "noun": "", "query": ""})


@app.command("check")
@guarded
def check(
    query: str = typer.Argument(..., help="The text query or label to check."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Say whether CLIP can answer QUERY, and what to use instead when it cannot."""
    result = polymodal.check_query(query)
    if json_out:
        print_json(result)
        return
    if result.ok:
        console.print(f"[green]ok[/]: {result.verdicts[0].reason}", highlight=False)
        return
    table = Table("verdict", "because", "instead", "evidence", show_lines=True)
    for verdict in result.verdicts:
        table.add_row(
            f"[yellow]{verdict.kind}[/]", verdict.reason, verdict.alternative, verdict.evidence
        )
    console.print(table)


@app.command("count")
@guarded
def count(
    image: Annotated[Path, typer.Argument(help="Image file.")],
    noun: str = typer.Argument(..., help="What to count: 'cars', 'people', 'dogs'..."),
    threshold: float = typer.Option(0.9, help="Keep detections scoring over this (0-1)."),
    draw: Annotated[
        Path | None, typer.Option("--draw", help="Save the image with boxes drawn here.")
    ] = None,
    model: str = typer.Option(None, help="Detector name or local DETR directory."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Count objects in IMAGE with an object detector (DETR), with boxes and scores."""
    result = polymodal.count_objects(image, noun, model=model, threshold=threshold, draw=draw)
    if json_out:
        print_json(result)
        return
    console.print(
        f"[bold]{result.count}[/] {result.label} over {result.threshold:g} in {result.image}",
        highlight=False,
    )
    if result.count:
        table = Table("#", "score", "box (x0, y0, x1, y1)")
        for i, (score, box) in enumerate(zip(result.scores, result.boxes, strict=True), 1):
            table.add_row(str(i), f"{score:.3f}", ", ".join(f"{v:.0f}" for v in box))
        console.print(table)
    if result.drawn:
        console.print(f"boxes drawn in {result.drawn}", highlight=False)


@app.command("diagnose")
@guarded
def diagnose(
    image: Annotated[Path, typer.Argument(help="Image file.")],
    query: str = typer.Argument(..., help="The query whose score to explain."),
    competitors: str = typer.Option(
        None, help="Comma-separated labels to compare with, besides the built-in ones."
    ),
    model: str = typer.Option(None, help="CLIP model name or local directory."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Explain CLIP's score of IMAGE for QUERY: ranks, margin, warnings and suggestions."""
    rivals = polymodal.read_labels(competitors, param="competitors") if competitors else None
    result = polymodal.diagnose(image, query, model=model, competitors=rivals)
    if json_out:
        print_json(result)
        return
    console.print(
        f"cosine [bold]{result.score:.3f}[/] (probability {result.probability:.2f} against "
        f"the labels), margin {result.margin:+.3f}, rank {result.competitor_rank} among labels, "
        f"{result.rephrasing_rank} among rephrasings",
        highlight=False,
    )
    table = Table("nearest labels", "cosine", "rephrasings", "cosine")
    rows = max(len(result.competitors), min(5, len(result.rephrasings)))
    for i in range(rows):
        rival = result.competitors[i] if i < len(result.competitors) else None
        phrase = result.rephrasings[i] if i < len(result.rephrasings) else None
        table.add_row(
            rival.text if rival else "",
            f"{rival.score:.3f}" if rival else "",
            phrase.text if phrase else "",
            f"{phrase.score:.3f}" if phrase else "",
        )
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for suggestion in result.suggestions:
        console.print(f"[green]try:[/] {suggestion}", highlight=False)
