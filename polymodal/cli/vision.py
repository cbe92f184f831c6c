"""``polymodal classify``, ``similar``, ``dedup`` and ``moderate``: CLIP tasks from the shell.

Each command parses, calls the public API, and renders a table or ``--json``. Bad files in a
batch are listed on stderr and skipped; when nothing at all could be read the command fails.
Ctrl-C stops long work at the next batch (a second Ctrl-C at once).

``similar`` takes files as files and texts only through ``--text``: ``polymodal similar a.jpg
b.jpg`` compares two images, ``polymodal similar a.jpg --text "a cat"`` an image and a text.
(Earlier versions guessed from the second argument; a text given there now gets a sentence
pointing at ``--text``.)
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
from polymodal.errors import BadInputError

FLAG_FOR_PARAM.update(
    {
        "images": "",
        "paths_or_dir": "",
        "query_image": "",
        "image": "",
        "other": "",
        "candidates": "--among",
        "thresholds": "--threshold",
        "semantic_threshold": "--threshold",
        "templates": "--template",
        "categories_file": "--categories",
        "trash": "--move-to",
    }
)

Images = Annotated[list[Path], typer.Argument(help="Image files or folders (walked recursively).")]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="CLIP model name or local folder.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]


def _report_failures(failures: Any) -> None:
    """Skipped files on stderr (the library raises when not one file could be read)."""
    for failure in failures:
        err_console.print(f"[yellow]skipped:[/] {failure.reason}", highlight=False)


def _thresholds(values: list[str] | None) -> float | dict[str, float] | None:
    """``0.3`` for every label, ``dog=0.3`` for one; several may be given."""
    if not values:
        return None
    parsed: dict[str, float] = {}
    for value in values:
        label, _, number = value.rpartition("=")
        try:
            parsed[label.strip() or "*"] = float(number)
        except ValueError:
            raise BadInputError(
                f"The threshold '{value}' is not a number or LABEL=NUMBER.", param="thresholds"
            ) from None
    return parsed["*"] if list(parsed) == ["*"] else parsed


@app.command("classify")
@guarded
def classify(
    images: Images,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Comma-separated.")] = None,
    labels_file: Annotated[
        Path | None, typer.Option("--labels-file", help="One label per line.")
    ] = None,
    ensemble: Annotated[
        bool, typer.Option("--ensemble", help="Average the CLIP paper's 80 prompt templates.")
    ] = False,
    template: Annotated[
        list[str] | None,
        typer.Option("--template", help="Your own prompt template with {} (repeatable)."),
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="Judge each label on its own (tags).")
    ] = False,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="Minimum probability (single-label) or cosine (multi-label); LABEL=X for one.",
        ),
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Best k.")] = None,
    model: ModelOption = None,
    detector: Annotated[
        str | None, typer.Option("--detector", help="Detector that answers counting labels.")
    ] = None,
    no_route: Annotated[
        bool, typer.Option("--no-route", help="Don't run the detector on counting labels.")
    ] = False,
    no_cache: NoCache = False,
    json_out: JsonOption = False,
) -> None:
    """Zero-shot classification of images against your labels."""
    if ensemble and template:
        raise BadInputError("Use --ensemble or --template, not both.")
    chosen = polymodal.read_labels(labels, labels_file)
    with (
        progress_bar("Classifying", "images", enabled=not json_out) as progress,
        cancel_on_interrupt() as cancel,
    ):
        result = polymodal.classify(
            images,
            chosen,
            model=model,
            templates="ensemble" if ensemble else template or None,
            multi_label=multi_label,
            thresholds=_thresholds(threshold),
            top_k=top_k,
            cache=not no_cache,
            route=not no_route,
            detector=detector,
            progress=progress,
            cancel=cancel,
        )
    _report_failures(result.failures)
    if json_out:
        print_json(result)
    else:
        _render_classification(result, top_k)


def _render_classification(result: Any, top_k: int | None) -> None:
    shown = top_k or (len(result.labels) if result.multi_label else min(5, len(result.labels)))
    table = Table("image", "label", "probability", "similarity", "predicted")
    for item in result.items:
        for rank, score in enumerate(item.scores[:shown]):
            table.add_row(
                item.path if rank == 0 else "",
                score.label,
                f"{score.probability:.1%}",
                f"{score.similarity:.3f}",
                "✓" if score.selected else "",
                end_section=rank == min(shown, len(item.scores)) - 1,
            )
    console.print(table)
    for note in result.advice:
        console.print(f"[yellow]advisor[/] '{note.label}' ({note.kind}): {note.reason}", end="")
        console.print(f" Instead: {note.alternative}" if note.alternative else "")
    for routed in result.routed:
        console.print(f"[cyan]routed[/] '{routed.label}': {routed.reason} Run: {routed.command}")
    for count in result.counts:
        console.print(f"[cyan]detector[/] {count.path}: {count.count} × {count.target}")
    for note in result.route_notes:
        console.print(f"[yellow]note[/] {note}")


@app.command("similar")
@guarded
def similar(
    first: Annotated[Path, typer.Argument(help="An image, or the query image with --among.")],
    second: Annotated[Path | None, typer.Argument(help="A second image to compare.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", "-t", help="A text to compare the image with.")
    ] = None,
    among: Annotated[
        list[Path] | None, typer.Option("--among", help="Rank these images/folders instead.")
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1)] = 10,
    model: ModelOption = None,
    json_out: JsonOption = False,
) -> None:
    """Cosine similarity of two images (or an image and --text), or rank images by likeness."""
    if sum(x is not None for x in (second, text)) + bool(among) != 1:
        raise BadInputError("Give a second image, --text or --among FOLDER: exactly one.")
    if second is not None and not second.exists():
        raise BadInputError(f"'{second}' is not a file; to compare with a text, use --text.")
    if not among:
        found = polymodal.compare(first, second, text=text, model=model)
        if json_out:
            print_json(found)
        else:
            console.print(f"{found.similarity:.4f}", highlight=False)
        return
    with (
        progress_bar("Ranking", "images", enabled=not json_out) as progress,
        cancel_on_interrupt() as cancel,
    ):
        ranking = polymodal.rank_similar(
            first, among, top_k=top_k, model=model, progress=progress, cancel=cancel
        )
    _report_failures(ranking.failures)
    if json_out:
        print_json(ranking)
    else:
        table = Table("rank", "image", "similarity")
        for rank, match in enumerate(ranking, start=1):
            table.add_row(str(rank), match.path, f"{match.score:.4f}")
        console.print(table)


@app.command("dedup")
@guarded
def dedup(
    folders: Images,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the groups to a .json or .csv file.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Least CLIP cosine for semantic pairs.")
    ] = None,
    hash_distance: Annotated[
        int | None, typer.Option("--hash-distance", help="Most differing bits (of 128).")
    ] = None,
    no_semantic: Annotated[
        bool, typer.Option("--no-semantic", help="Only exact and near-exact copies (no CLIP).")
    ] = False,
    move_to: Annotated[
        Path | None, typer.Option("--move-to", help="Move non-keeper copies into this folder.")
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete non-keeper copies permanently.")
    ] = False,
    include_semantic: Annotated[
        bool, typer.Option("--include-semantic", help="Also remove semantic matches.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")] = False,
    model: ModelOption = None,
    json_out: JsonOption = False,
) -> None:
    """Find exact, near-exact (edited, rotated, mirrored) and semantic duplicate images."""
    if report is not None:
        polymodal.report_format(report)
    options: dict[str, Any] = {"semantic": not no_semantic, "model": model}
    if threshold is not None:
        options["semantic_threshold"] = threshold
    if hash_distance is not None:
        options["hash_distance"] = hash_distance
    if move_to is not None and delete:
        raise BadInputError("Use --move-to or --delete, not both.")
    with (
        progress_bar("Scanning", "images", enabled=not json_out) as progress,
        cancel_on_interrupt() as cancel,
    ):
        found = polymodal.find_duplicates(folders, progress=progress, cancel=cancel, **options)
    _report_failures(found.failures)
    if report is not None:
        found.write(report)
    if json_out:
        print_json(found)
    else:
        _render_duplicates(found, report)
    if move_to is None and not delete:
        return
    if delete and not yes:
        typer.confirm("Delete the duplicate copies permanently?", abort=True, err=True)
    kinds = ("exact", "near-exact", "semantic") if include_semantic else ("exact", "near-exact")
    removed = polymodal.remove_duplicates(found, trash=move_to, delete=delete, kinds=kinds)
    verb = "deleted" if delete else f"moved to {move_to}"
    err_console.print(f"{len(removed)} duplicate files {verb}.", highlight=False)


def _render_duplicates(found: Any, report: Path | None) -> None:
    table = Table("group", "kind", "file", "match", "size", "bits", "cosine")
    for number, group in enumerate(found.groups, start=1):
        for index, file in enumerate(group.files):
            table.add_row(
                str(number) if index == 0 else "",
                group.kind if index == 0 else "",
                file.path,
                "[green]keep[/]" if file.match == "keeper" else file.match,
                f"{file.width}×{file.height}",
                str(file.hash_distance),
                "" if file.similarity is None else f"{file.similarity:.3f}",
                end_section=index == len(group.files) - 1,
            )
    if found.groups:
        console.print(table)
    extra = sum(len(g.files) - 1 for g in found.groups)
    groups = f"{len(found.groups)} group{'s' * (len(found.groups) != 1)}"
    summary = f"{groups}, {extra} removable copies among {found.scanned} files"
    console.print(summary + (f"; report written to {report}" if report else "") + ".")
    if any(g.kind == "semantic" for g in found.groups):
        console.print("Semantic groups are look-alikes, not copies: review before removing.")


@app.command("moderate")
@guarded
def moderate(
    images: Images,
    categories: Annotated[
        Path | None, typer.Option("--categories", help="TOML file changing or adding categories.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every category's score, not only flags.")
    ] = False,
    model: ModelOption = None,
    no_cache: NoCache = False,
    json_out: JsonOption = False,
) -> None:
    """Screen images for unsafe content (a screening aid for human review, not a verdict)."""
    with (
        progress_bar("Screening", "images", enabled=not json_out) as progress,
        cancel_on_interrupt() as cancel,
    ):
        result = polymodal.moderate(
            images,
            model=model,
            categories_file=categories,
            cache=not no_cache,
            progress=progress,
            cancel=cancel,
        )
    _report_failures(result.failures)
    if json_out:
        print_json(result)
    else:
        table = Table("image", "flagged", "scores")
        for item in result.items:
            scores = [s for s in item.scores if show_all or s.flagged]
            if not show_all and not scores:
                scores = sorted(item.scores, key=lambda s: -s.score)[:1]
            text = ", ".join(f"{s.category} {s.score:.2f}/{s.threshold:.2f}" for s in scores)
            mark = "[red]FLAGGED[/]" if item.flagged else "[green]ok[/]"
            table.add_row(item.path, mark, text)
        console.print(table)
        console.print(f"[bold]{result.notice}[/]")
