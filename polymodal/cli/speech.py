"""``polymodal transcribe``: files or folders to text and subtitles (parse, call, render)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from polymodal.cli.app import app, console, err_console, guarded, print_json, progress_bar
from polymodal.errors import PolymodalError


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
    from polymodal.speech import SpeakerOptions

    return SpeakerOptions.parse(speakers or "auto", min_speakers, max_speakers, enroll or [])


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
) -> None:
    """Transcribe or translate speech into text, SRT, WebVTT or JSON, offline."""
    from polymodal import speech

    speaker_options = _speaker_options(speakers, min_speakers, max_speakers, enroll)
    options = {
        "language": language,
        "task": task.value,
        "initial_prompt": initial_prompt,
        "word_timestamps": word_timestamps,
        "vad": not no_vad,
        "beam_size": beam_size,
        "batch_size": batch_size,
        "condition_on_previous_text": not no_context,
        "full_audio_context": full_context,
        "compression_ratio_threshold": compression_ratio_threshold,
        "log_prob_threshold": log_prob_threshold,
        "no_speech_threshold": no_speech_threshold,
    }
    sources = speech.media_files(files)  # fails early on missing paths and empty folders
    transcriber = speech.Transcriber(
        model, compute_type=None if compute_type == "auto" else compute_type
    )
    if out is not None:
        _to_folder(
            transcriber,
            files,
            out,
            fmt.value,
            drop_suspect,
            force,
            speaker_options,
            options,
            json_out,
        )
        return
    _to_stdout(
        transcriber,
        [f for f, _ in sources],
        fmt.value,
        drop_suspect,
        speaker_options,
        options,
        json_out,
    )


def _to_folder(transcriber, files, out, fmt, drop, force, speakers, options, json_out) -> None:
    from polymodal import speech

    with progress_bar("transcribing", unit="files", enabled=not json_out) as progress:
        report = speech.transcribe_folder(
            files,
            out,
            fmt,
            drop_suspect=drop,
            force=force,
            speakers=speakers,
            progress=progress,
            transcriber=transcriber,
            **options,
        )
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


def _to_stdout(transcriber, sources, fmt, drop, speakers, options, json_out) -> None:
    """Print each transcript (txt unless --format says otherwise); progress goes to stderr."""
    from polymodal import speech

    failures = 0
    results = []
    for source in sources:
        try:
            with progress_bar(source.name, unit="s audio", enabled=not json_out) as progress:
                transcript = transcriber.transcribe(
                    source, speakers=speakers, progress=progress, **options
                )
        except PolymodalError as exc:
            if len(sources) == 1:
                raise
            failures += 1
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            continue
        info = transcript.info
        if options["language"] is None and not json_out:
            err_console.print(
                f"{source.name}: language {info.language} "
                f"(probability {info.language_probability:.2f}), {info.duration:.1f} s",
                highlight=False,
            )
        shown = speech.drop_suspect(transcript) if drop else transcript
        if json_out:
            results.append(speech.transcript_dict(transcript))
            continue
        if len(sources) > 1:
            sys.stdout.write(f"==> {source} <==\n")
        for name in speech.FORMATS if fmt == "all" else (fmt,):
            text = speech.render(transcript if name == "json" else shown, name)
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    if json_out:
        print_json(results[0] if len(sources) == 1 else results)
    if failures:
        raise typer.Exit(2)
