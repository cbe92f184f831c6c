"""``polymodal transcribe``: files or folders to text and subtitles; ``polymodal diarize``: who
spoke when, as a table, JSON or RTTM (parse, call, render).

The flags become a ``DecodeOptions`` (and a ``SpeakerOptions`` when any speaker flag is given)
here, once; the library walks the inputs, transcribes, decides what fails and what is dropped,
and renders. Ctrl-C stops the run at the next window or file, keeping finished files. With
``--ray`` (or ``--address``) a folder run decodes on a Ray cluster and writes here as before.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import polymodal
from polymodal.cli.app import (
    FLAG_FOR_PARAM,
    app,
    cancel_on_interrupt,
    console,
    err_console,
    error_line,
    guarded,
    print_json,
    progress_bar,
)
from polymodal.errors import BadInputError, PolymodalError

FLAG_FOR_PARAM.update(
    {
        "inputs": "",
        "audio": "",
        "formats": "--format",
        "vad": "--no-vad",
        "condition_on_previous_text": "--no-context",
        "full_audio_context": "--full-context",
        "out_dir": "--out",
    }
)


class Task(StrEnum):
    transcribe = "transcribe"
    translate = "translate"


class Format(StrEnum):
    txt = "txt"
    srt = "srt"
    vtt = "vtt"
    json = "json"
    all = "all"


_opt = typer.Option


def _speaker_options(speakers, min_speakers, max_speakers, enroll):
    """A ``SpeakerOptions`` when any speaker flag was given, else ``None`` (no diarization)."""
    if speakers is None and min_speakers is None and max_speakers is None and not enroll:
        return None
    return polymodal.SpeakerOptions.parse(
        speakers or "auto", min_speakers, max_speakers, enroll or []
    )


@app.command("transcribe")
@guarded
def transcribe_command(
    files: Annotated[list[Path], typer.Argument(help="Audio/video files or folders of them.")],
    model: Annotated[
        str | None, _opt("--model", "-m", help="Catalogue name or model folder.")
    ] = None,
    language: Annotated[str | None, _opt("--language", "-l", help="Skip detection.")] = None,
    task: Annotated[Task, _opt("--task", help="Or translate to English.")] = Task.transcribe,
    initial_prompt: Annotated[str | None, _opt("--initial-prompt", help="Vocabulary hint.")] = None,
    word_timestamps: Annotated[bool, _opt("--word-timestamps", help="Time each word.")] = False,
    fmt: Annotated[Format, _opt("--format", "-f", help="Output format, or all.")] = Format.txt,
    out: Annotated[Path | None, _opt("--out", "-o", help="Write files here (else print).")] = None,
    drop_suspect: Annotated[bool, _opt("--drop-suspect", help="Leave out suspect text.")] = False,
    beam_size: Annotated[int, _opt("--beam-size", help="Beam width; 1 is greedy.")] = 5,
    batch_size: Annotated[int, _opt("--batch-size", help="Files decoded together.")] = 8,
    compute_type: Annotated[
        str, _opt("--compute-type", help="auto (int8 on CPU), float32 (most exact), float16...")
    ] = "auto",
    no_context: Annotated[
        bool, _opt("--no-context", help="Don't prompt each window with the text before it.")
    ] = False,
    full_context: Annotated[
        bool, _opt("--full-context", help="Pad every window to 30 s, as Whisper does.")
    ] = False,
    no_vad: Annotated[bool, _opt("--no-vad", help="Decode silence too (not advised).")] = False,
    compression_ratio_threshold: Annotated[float, _opt(help="Above: looping, retried.")] = 2.4,
    log_prob_threshold: Annotated[float, _opt(help="Below: unsure text, retried.")] = -1.0,
    no_speech_threshold: Annotated[float, _opt(help="Above: silence, dropped.")] = 0.6,
    force: Annotated[bool, _opt("--force", help="Redo files whose outputs are current.")] = False,
    speakers: Annotated[str | None, _opt("--speakers", help="Label speakers: auto or N.")] = None,
    min_speakers: Annotated[int | None, _opt("--min-speakers", help="At least N speakers.")] = None,
    max_speakers: Annotated[int | None, _opt("--max-speakers", help="At most N speakers.")] = None,
    enroll: Annotated[list[str] | None, _opt("--enroll", help="NAME=CLIP.wav, repeatable.")] = None,
    json_out: Annotated[bool, _opt("--json", help="Print JSON.")] = False,
    ray: Annotated[bool, _opt("--ray", help="Decode on a Ray cluster (with --out).")] = False,
    address: Annotated[
        str | None,
        _opt("--address", help="The Ray cluster: auto, ray://head:10001 (implies --ray)."),
    ] = None,
) -> None:
    """Transcribe or translate speech into text, SRT, WebVTT or JSON, offline."""
    on_ray = ray or address is not None
    if on_ray and out is None:
        raise BadInputError(
            "A run on Ray writes its transcripts into a folder: give the output folder.",
            param="out_dir",
        )
    speaker_options = _speaker_options(speakers, min_speakers, max_speakers, enroll)
    options = polymodal.DecodeOptions(
        language=language,
        task=task.value,
        initial_prompt=initial_prompt,
        word_timestamps=word_timestamps,
        vad=not no_vad,
        beam_size=beam_size,
        batch_size=batch_size,
        condition_on_previous_text=not no_context,
        full_audio_context=full_context,
        compression_ratio_threshold=compression_ratio_threshold,
        log_prob_threshold=log_prob_threshold,
        no_speech_threshold=no_speech_threshold,
    )
    with cancel_on_interrupt() as cancel:
        if out is not None:
            with progress_bar("transcribing", unit="files", enabled=not json_out) as progress:
                report = polymodal.write_transcripts(
                    files,
                    out,
                    options,
                    formats=fmt.value,
                    model=_on_ray(model, compute_type, address) if on_ray else model,
                    compute_type=compute_type,
                    drop_suspect=drop_suspect,
                    force=force,
                    speakers=speaker_options,
                    progress=progress,
                    cancel=cancel,
                )
            _show_report(report, json_out)
            return
        sources = [found.path for found in polymodal.find_media(files)]
        with progress_bar("transcribing", unit="s audio", enabled=not json_out) as progress:
            results = polymodal.transcribe_files(
                sources,
                options,
                model=model,
                compute_type=compute_type,
                speakers=speaker_options,
                progress=progress,
                cancel=cancel,
            )
            _print_transcripts(results, len(sources), fmt.value, drop_suspect, json_out, language)


@app.command("diarize")
@guarded
def diarize_command(
    file: Annotated[Path, typer.Argument(help="An audio or video file.")],
    rttm: Annotated[
        Path | None, _opt("--rttm", help="Write the turns here as RTTM (else print).")
    ] = None,
    speakers: Annotated[str, _opt("--speakers", help="auto or N.")] = "auto",
    min_speakers: Annotated[int | None, _opt("--min-speakers", help="At least N speakers.")] = None,
    max_speakers: Annotated[int | None, _opt("--max-speakers", help="At most N speakers.")] = None,
    enroll: Annotated[list[str] | None, _opt("--enroll", help="NAME=CLIP.wav, repeatable.")] = None,
    json_out: Annotated[bool, _opt("--json", help="Print JSON.")] = False,
) -> None:
    """Who spoke when: speaker turns as a table, JSON or RTTM (for scoring tools), offline."""
    options = polymodal.SpeakerOptions.parse(speakers, min_speakers, max_speakers, enroll or [])
    bar = progress_bar("diarizing", unit="s audio", enabled=not json_out)
    with cancel_on_interrupt() as cancel, bar as progress:
        result = polymodal.diarize(file, options, progress=progress, cancel=cancel)
    if rttm is not None:
        polymodal.write_rttm(result, rttm, polymodal.rttm_file_id(file))
        err_console.print(
            f"{len(result.turns)} turns of {len(result.labels)} speakers written to {rttm}",
            highlight=False,
        )
    elif json_out:
        print_json(result)
    else:
        table = Table("start", "end", "speaker")
        for turn in result.turns:
            table.add_row(f"{turn.start:.2f}", f"{turn.end:.2f}", result.display(turn.speaker))
        console.print(table)


def _on_ray(model, compute_type: str, address: str | None):
    """The model as a pool of Ray actors, each loading it once (``--ray``)."""
    return polymodal.RayTranscriber(model, compute_type=compute_type, address=address)


def _show_report(report, json_out: bool) -> None:
    """The folder run's outcome as JSON or a table; exit code 2 when a file failed."""
    if json_out:
        print_json(report)
    else:
        table = Table("file", "result", "language", "detail")
        for item in report.files:
            colour = {"written": "green", "skipped": "dim", "failed": "red"}[item.status]
            detail = item.reason or ", ".join(p.name for p in item.outputs)
            table.add_row(
                str(item.path), f"[{colour}]{item.status}[/]", item.language or "", detail
            )
        console.print(table)
        console.print(
            f"{report.written} written, {report.skipped} up to date, {report.failed} failed"
        )
    if report.failed:
        raise typer.Exit(2)


def _print_transcripts(results, count: int, fmt: str, drop: bool, json_out: bool, language):
    """Print each transcript as it completes (``==> file <==`` headers when there are several,
    the detected language on stderr); a failed file's error goes to stderr, exit code 2."""
    failures = 0
    transcripts = []
    for path, result in results:
        if isinstance(result, PolymodalError):
            failures += 1
            err_console.print(f"[bold red]error:[/] {error_line(result)}", highlight=False)
            continue
        transcripts.append(result)
        for warning in result.warnings:
            err_console.print(f"[yellow]warning:[/] {path.name}: {warning}", highlight=False)
        if json_out:
            continue
        if language is None:
            err_console.print(
                f"{path.name}: language {result.language} "
                f"(probability {result.language_probability:.2f}), {result.duration:.1f} s",
                highlight=False,
            )
        if count > 1:
            sys.stdout.write(f"==> {path} <==\n")
        for name in polymodal.output_formats(fmt):
            text = polymodal.render_transcript(result, name, drop_suspect=drop)
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    if json_out:
        print_json(transcripts[0] if count == 1 else transcripts)
    if failures:
        raise typer.Exit(2)
