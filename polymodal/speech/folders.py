"""Runs over many files: transcripts in memory (:func:`transcribe_files`) or written into a
folder (:func:`write_transcripts`), resumable, with atomic output files.

Both walk their inputs with the one folder walker (``media.files``), so a missing path or a
folder without media fails before any model is loaded. A folder run loads the model once and
lets short clips share encoder batches (``Transcriber.transcribe_many``), several times faster
than one call per file; files whose outputs are newer than the file are skipped, so an
interrupted run picks up where it stopped; a bad file is reported and the others still
complete. Outputs are written through a temporary file and a rename, and a cancelled run (Ctrl-C)
stops between files, so it never leaves half a subtitle file behind and keeps the finished ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from polymodal.errors import CancelledError, PolymodalError
from polymodal.media.audio import is_media_file
from polymodal.media.files import FoundFile, find_files, write_atomic
from polymodal.progress import CancelToken, ProgressCallback, Reporter, check_cancelled
from polymodal.speech.formats import output_formats, render_transcript
from polymodal.speech.options import DecodeOptions, SpeakerOptions
from polymodal.speech.results import Transcript
from polymodal.speech.transcriber import Transcriber, as_transcriber

Status = Literal["written", "skipped", "failed"]
PathLike = str | os.PathLike[str]
Inputs = PathLike | Sequence[PathLike]
ModelArg = Transcriber | str | os.PathLike[str] | None


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
    """Every input's outcome, in input order, and how many were written, skipped, failed."""

    render_properties: ClassVar[tuple[str, ...]] = ("written", "skipped", "failed")

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


def find_media(inputs: Inputs) -> list[FoundFile]:
    """Files named directly plus the audio and video files inside named folders; raises
    :class:`~polymodal.errors.BadInputError` for a missing path or a folder without media."""
    return find_files(inputs, is_media_file, kind="audio or video", param="inputs")


def output_paths(files: Sequence[FoundFile], out_dir: Path, formats: Sequence[str]):
    """Where each file's outputs go: ``out_dir`` mirrors the input folder's layout.

    Two inputs with the same stem in one place (``a.wav``, ``a.mp3``) keep their suffix in the
    output name so neither overwrites the other.
    """
    stems = [out_dir / f.relative.with_suffix("") for f in files]
    clash = {s for s in stems if stems.count(s) > 1}
    result = []
    for file, stem in zip(files, stems, strict=True):
        base = out_dir / file.relative if stem in clash else stem
        result.append([base.parent / f"{base.name}.{fmt}" for fmt in formats])
    return result


def _up_to_date(source: Path, outputs: Sequence[Path]) -> bool:
    mtime = source.stat().st_mtime
    return all(p.exists() and p.stat().st_mtime >= mtime for p in outputs)


def write_outputs(transcript: Transcript, outputs: Sequence[Path], drop: bool = False) -> None:
    """Render and atomically write each output (its format is the file's suffix)."""
    for path in outputs:
        write_atomic(path, render_transcript(transcript, path.suffix[1:], drop_suspect=drop))


def transcribe_files(
    inputs: Inputs,
    options: DecodeOptions | None = None,
    *,
    model: ModelArg = None,
    device: str = "auto",
    compute_type: str | None = None,
    speakers: SpeakerOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[Path, Transcript | PolymodalError]]:
    """Each file's transcript, one file after another in input order (progress in seconds of
    the current file). With several files a bad one yields its error and the rest go on; a
    single file's error is raised, as there is nothing else to report."""
    files = [f.path for f in find_media(inputs)]
    transcriber = as_transcriber(model, device=device, compute_type=compute_type)
    for path in files:
        try:
            transcript = transcriber.transcribe(
                path, options, speakers=speakers, progress=progress, cancel=cancel
            )
        except PolymodalError as exc:
            if len(files) == 1 or isinstance(exc, CancelledError):
                raise
            yield path, exc
            continue
        yield path, transcript


def write_transcripts(
    inputs: Inputs,
    out_dir: PathLike,
    options: DecodeOptions | None = None,
    *,
    formats: str | Sequence[str] = ("txt", "srt", "vtt", "json"),
    model: ModelArg = None,
    device: str = "auto",
    compute_type: str | None = None,
    drop_suspect: bool = False,
    force: bool = False,
    speakers: SpeakerOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> FolderReport:
    """Transcribe files and folders into ``out_dir`` (one output per file and format).

    Up-to-date outputs are skipped unless ``force``; failures are reported per file, never
    raised (except for inputs that do not exist, folders without media, and bad enrolment
    clips, which would fail every file alike). ``drop_suspect`` removes suspect segments from
    txt/srt/vtt; JSON always keeps them, flagged. Progress counts files; a set ``cancel``
    stops the run between files with :class:`~polymodal.errors.CancelledError`, keeping the
    files already written.
    """
    files = find_media(inputs)
    fmts = output_formats(formats)
    outputs = output_paths(files, Path(out_dir).expanduser(), fmts)
    todo = [i for i, f in enumerate(files) if force or not _up_to_date(f.path, outputs[i])]
    outcomes = {
        i: FileOutcome(files[i].path, "skipped", tuple(outputs[i]))
        for i in range(len(files))
        if i not in todo
    }
    if todo:
        transcriber = as_transcriber(model, device=device, compute_type=compute_type)
        report = Reporter(progress, "transcribe", "files")
        results = transcriber.transcribe_many(
            [files[i].path for i in todo], options, speakers=speakers, cancel=cancel
        )
        for done, (position, result) in enumerate(results, start=1):
            check_cancelled(cancel)  # before writing: a stopped run writes nothing more
            index = todo[position]
            outcomes[index] = _record(files[index].path, result, outputs[index], drop_suspect)
            report(done, len(todo))
    return FolderReport(tuple(outcomes[i] for i in range(len(files))))


def _record(source: Path, result, outputs: list[Path], drop: bool) -> FileOutcome:
    if isinstance(result, PolymodalError):
        return FileOutcome(source, "failed", reason=str(result))
    write_outputs(result, outputs, drop)
    return FileOutcome(source, "written", tuple(outputs), None, result.language, result.duration)
