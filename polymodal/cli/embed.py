"""``polymodal embed`` (embeddings of images or texts to a file); ``polymodal cache``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from polymodal.cli.app import app, console, err_console, guarded, print_json, progress_bar
from polymodal.errors import BadInputError

cache_app = typer.Typer(help="The embedding cache shared by every command.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _texts(texts: str | None, texts_file: Path | None) -> list[str]:
    items: list[str] = []
    if texts:
        items += [t.strip() for t in texts.split(",") if t.strip()]
    if texts_file:
        if not texts_file.is_file():
            raise BadInputError(f"Texts file '{texts_file}' does not exist.")
        lines = texts_file.read_text(encoding="utf-8").splitlines()
        items += [line.strip() for line in lines if line.strip()]
    return items


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
    import polymodal.vision as vision
    from polymodal.media.image import find_images

    vision.output_format(out)
    wanted_texts = _texts(texts, texts_file)
    if wanted_texts and inputs:
        raise BadInputError("Give images or texts to embed, not both in one run.")
    if wanted_texts:
        vectors = vision.embed_texts(wanted_texts, model=model, cache=not no_cache, int8=int8)
        model_id = vision.get_encoder(model, int8).model_id
        files = vision.write_embeddings(out, wanted_texts, vectors, kind="text", model_id=model_id)
        summary = {"kind": "text", "count": len(wanted_texts), "model_id": model_id}
        summary |= {"dim": int(vectors.shape[1]), "files": [str(f) for f in files]}
        _render(summary, [], json_out)
        return
    if not inputs:
        raise BadInputError("Name image files or folders, or give --texts / --texts-file.")
    paths = find_images(inputs)
    if not paths:
        raise BadInputError("No image files found in the given folders.")
    with progress_bar("Embedding", "images", enabled=not json_out) as progress:
        result = vision.embed_images(
            paths,
            model=model,
            cache=not no_cache,
            batch_size=batch_size,
            int8=int8,
            progress=progress,
        )
    failures = [{"path": f.path, "reason": f.reason} for f in result.failures]
    files = vision.write_embeddings(
        out,
        result.paths,
        result.vectors,
        kind="path",
        model_id=result.model_id,
        failures=failures,
    )
    summary = {"kind": "image", "count": len(result.paths), "model_id": result.model_id}
    summary |= {"dim": int(result.vectors.shape[1]), "computed": result.computed}
    summary |= {"cached": result.cached, "files": [str(f) for f in files]}
    _render(summary, failures, json_out)


def _render(summary: dict, failures: list[dict], json_out: bool) -> None:
    if json_out:
        print_json({**summary, "failures": failures})
        return
    detail = ""
    if summary["kind"] == "image":
        detail = f" ({summary['computed']} computed, {summary['cached']} from cache)"
    console.print(
        f"Embedded {summary['count']} {summary['kind']}s{detail} with {summary['model_id']} "
        f"→ {', '.join(summary['files'])}",
        highlight=False,
    )
    for failure in failures:
        err_console.print(f"[yellow]skipped:[/] {failure['reason']}", highlight=False)


@cache_app.command("stats")
@guarded
def stats(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Entries per model and size on disk of the embedding cache."""
    import polymodal.vision as vision

    result = vision.cache_stats()
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
    import polymodal.vision as vision

    removed = vision.clear_cache(model)
    if json_out:
        print_json({"removed": removed})
    else:
        console.print(f"Removed {removed} cached embeddings.")
