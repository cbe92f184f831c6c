"""Folder runs: every media file transcribed once, resumable, with atomic output files.

The model is loaded once and short clips share encoder batches (``Transcriber.transcribe_many``),
which is several times faster than one call per file. Files whose outputs are newer than the
file are skipped, so an interrupted run picks up where it stopped; a bad file is reported and
the others still complete. Outputs are written to a temporary file and renamed, so Ctrl-C never
leaves half a subtitle file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from polymodal.errors import BadInputError, PolymodalError
from polymodal.media.audio import is_media_file
from polymodal.progress import ProgressCallback
from polymodal.speech.formats import FORMATS, drop_suspect, render
from polymodal.speech.results import Transcript

Status = Literal["written", "skipped", "failed"]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file."""

    path: Path
    status: Status
    outputs: tuple[Path, ...] = ()
    reason: str | None = None
    language: str | None = None
    duration: float | None = None


@dataclass(frozen=True)
class FolderReport:
    """Every input's outcome, in input order."""

    files: tuple[FileOutcome, ...] = field(default=())

    def _count(self, status: Status) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def written(self) -> int:
        return self._count("written")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def media_files(inputs: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, Path]]:
    """``(file, root)`` for each input file and each media file inside input folders.

    A folder with no media in it is an error (the user pointed at the wrong place); a missing
    path is too. Files named directly are kept whatever their suffix (decoding will judge).
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if is_media_file(p))
            if not files:
                raise BadInputError(f"{path} contains no audio or video files.")
            found.extend((f, path) for f in files)
        elif path.exists():
            found.append((path, path.parent))
        else:
            raise BadInputError(f"{path}: no such file or folder.")
    return found


def output_paths(
    files: Sequence[tuple[Path, Path]], out_dir: Path, formats: Sequence[str]
) -> list[list[Path]]:
    """Where each file's outputs go: ``out_dir`` mirrors the input folder's layout.

    Two inputs with the same stem in one place (``a.wav``, ``a.mp3``) keep their suffix in the
    output name so neither overwrites the other.
    """
    stems = [out_dir / f.relative_to(root).with_suffix("") for f, root in files]
    clash = {s for s in stems if stems.count(s) > 1}
    result = []
    for (f, root), stem in zip(files, stems, strict=True):
        base = out_dir / f.relative_to(root) if stem in clash else stem
        result.append([base.parent / f"{base.name}.{fmt}" for fmt in formats])
    return result


def _up_to_date(source: Path, outputs: Sequence[Path]) -> bool:
    mtime = source.stat().st_mtime
    return all(p.exists() and p.stat().st_mtime >= mtime for p in outputs)


def normalise_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """``"all"``, ``"srt"`` or ``["srt", "vtt"]`` as a checked tuple of format names."""
    wanted = [formats] if isinstance(formats, str) else list(formats)
    if "all" in wanted:
        return FORMATS
    for fmt in wanted:
        if fmt not in FORMATS:
            raise BadInputError(f"Unknown output format '{fmt}': use {', '.join(FORMATS)} or all.")
    return tuple(dict.fromkeys(wanted))


def write_outputs(transcript: Transcript, outputs: Sequence[Path], drop: bool = False) -> None:
    """Render and atomically write each output (its format is the file's suffix)."""
    shown = drop_suspect(transcript) if drop else transcript
    for path in outputs:
        fmt = path.suffix.lstrip(".")
        write_atomic(path, render(transcript if fmt == "json" else shown, fmt))


def transcribe_folder(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    formats: str | Sequence[str] = ("txt", "srt", "vtt", "json"),
    *,
    model: str | None = None,
    device: str = "auto",
    drop_suspect: bool = False,
    force: bool = False,
    speakers: Any = None,
    progress: ProgressCallback | None = None,
    transcriber: Any = None,
    **options: Any,
) -> FolderReport:
    """Transcribe files and folders into ``out_dir`` (one output per file and format).

    Up-to-date outputs are skipped unless ``force``; failures are reported per file, never
    raised (except for inputs that do not exist, folders without media, and bad enrolment
    clips, which would fail every file alike). ``drop_suspect``
    removes suspect segments from txt/srt/vtt; JSON always keeps them, flagged.
    """
    from polymodal.speech.transcriber import Transcriber

    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    files = media_files(items)
    fmts = normalise_formats(formats)
    outputs = output_paths(files, Path(out_dir).expanduser(), fmts)
    todo = [i for i, (f, _) in enumerate(files) if force or not _up_to_date(f, outputs[i])]
    outcomes: dict[int, FileOutcome] = {
        i: FileOutcome(files[i][0], "skipped", tuple(outputs[i]))
        for i in range(len(files))
        if i not in todo
    }
    if speakers is not None and todo:
        from polymodal.speech.speakers import check_enrolment

        check_enrolment(speakers)
    engine = transcriber or Transcriber(model, device=device)
    sources = [files[i][0] for i in todo]
    for position, result in _results(engine, sources, speakers, progress, options):
        index = todo[position]
        outcomes[index] = _record(files[index][0], result, outputs[index], drop_suspect)
    return FolderReport(tuple(outcomes[i] for i in range(len(files))))


def _results(engine, sources, speakers, progress, options):
    """``(position, transcript or error)``: batched across files unless speakers are wanted."""
    if speakers is None:
        yield from engine.transcribe_many(sources, progress=progress, **options)
        return
    for position, source in enumerate(sources):
        try:
            yield position, engine.transcribe(source, speakers=speakers, **options)
        except PolymodalError as exc:
            yield position, exc
        if progress:
            progress(position + 1.0, float(len(sources)))


def _record(source: Path, result, outputs: list[Path], drop: bool) -> FileOutcome:
    if isinstance(result, PolymodalError):
        return FileOutcome(source, "failed", reason=str(result))
    write_outputs(result, outputs, drop)
    info = result.info
    return FileOutcome(source, "written", tuple(outputs), None, info.language, info.duration)
