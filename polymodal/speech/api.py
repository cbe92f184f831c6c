"""The speech room's two doors for users: :func:`transcribe` and :func:`transcribe_folder`.

They take plain keyword arguments, build the typed options once, here, and call the typed layer
below (``Transcriber``, ``folders.write_transcripts``), which is what the CLI and the server call
directly with options they built themselves. The decoding keywords are exactly the fields of
:class:`~polymodal.speech.options.DecodeOptions`, with the same defaults, and are documented
there, once (a test holds the three spellings together).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields

from polymodal.progress import CancelToken, ProgressCallback
from polymodal.speech.distributed import RayTranscriber
from polymodal.speech.folders import FolderReport, Inputs, write_transcripts
from polymodal.speech.options import DecodeOptions, SpeakerOptions
from polymodal.speech.results import Transcript
from polymodal.speech.transcriber import AudioInput, Transcriber, as_transcriber

_DECODE_FIELDS = tuple(f.name for f in fields(DecodeOptions))


def _decode_options(arguments: dict[str, object]) -> DecodeOptions:
    """The :class:`DecodeOptions` a convenience function's keyword arguments spell."""
    values = {name: arguments[name] for name in _DECODE_FIELDS}
    values["temperatures"] = tuple(values["temperatures"])  # type: ignore[arg-type]
    return DecodeOptions(**values)  # type: ignore[arg-type]


def transcribe(
    audio: AudioInput,
    *,
    model: Transcriber | str | os.PathLike[str] | None = None,
    device: str = "auto",
    compute_type: str | None = None,
    language: str | None = None,
    task: str = "transcribe",
    initial_prompt: str | None = None,
    word_timestamps: bool = False,
    vad: bool = True,
    beam_size: int = 5,
    batch_size: int = 8,
    compression_ratio_threshold: float | None = 2.4,
    log_prob_threshold: float | None = -1.0,
    no_speech_threshold: float | None = 0.6,
    fallback: bool = True,
    temperatures: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0),
    condition_on_previous_text: bool = True,
    full_audio_context: bool = False,
    level_audio: bool = True,
    vad_threshold: float = 0.25,
    vad_recheck_threshold: float | None = 0.15,
    repetition_guard: bool = True,
    speakers: SpeakerOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Transcript:
    """Transcribe (or translate to English) one file or 16 kHz waveform.

    ``model`` is a catalogue name, a model folder or a loaded :class:`Transcriber` (a named
    model is loaded once per process and reused). ``language=None`` detects it (reported with
    its probability on the transcript); ``speakers`` (a :class:`SpeakerOptions`) labels who
    spoke. The other keywords are :class:`DecodeOptions` fields. Progress is reported in
    seconds of audio; ``cancel`` stops the work between windows. Raises ``BadInputError`` for
    unreadable or speechless input and ``ModelUnavailableError`` for an unknown model.
    """
    options = _decode_options(locals())
    transcriber = as_transcriber(model, device=device, compute_type=compute_type)
    return transcriber.transcribe(
        audio, options, speakers=speakers, progress=progress, cancel=cancel
    )


def transcribe_folder(
    inputs: Inputs,
    out_dir: str | os.PathLike[str],
    formats: str | Sequence[str] = ("txt", "srt", "vtt", "json"),
    *,
    model: Transcriber | str | os.PathLike[str] | None = None,
    transcriber: Transcriber | None = None,
    device: str = "auto",
    compute_type: str | None = None,
    drop_suspect: bool = False,
    force: bool = False,
    language: str | None = None,
    task: str = "transcribe",
    initial_prompt: str | None = None,
    word_timestamps: bool = False,
    vad: bool = True,
    beam_size: int = 5,
    batch_size: int = 8,
    compression_ratio_threshold: float | None = 2.4,
    log_prob_threshold: float | None = -1.0,
    no_speech_threshold: float | None = 0.6,
    fallback: bool = True,
    temperatures: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0),
    condition_on_previous_text: bool = True,
    full_audio_context: bool = False,
    level_audio: bool = True,
    vad_threshold: float = 0.25,
    vad_recheck_threshold: float | None = 0.15,
    repetition_guard: bool = True,
    speakers: SpeakerOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    ray: bool = False,
    address: str | None = None,
) -> FolderReport:
    """Transcribe files and folders into ``out_dir``, one output per file and format
    (``"all"``, ``"srt"`` or a list), mirroring the input folders' layout.

    Up-to-date outputs are skipped unless ``force``; a bad file is reported in the returned
    :class:`FolderReport` while the others complete. ``drop_suspect`` leaves suspect segments
    out of txt/srt/vtt (JSON keeps them, flagged). ``model`` (or ``transcriber``, its older
    name) is a catalogue name, a model folder or a loaded :class:`Transcriber`; the decoding
    keywords are :class:`DecodeOptions` fields. Progress counts files; ``cancel`` stops the run
    between files, keeping those already written.

    ``ray=True`` (or an ``address``: ``"auto"``, ``"ray://head:10001"``) decodes on a Ray
    cluster's actor pool, a local one by default, and writes here as results arrive
    (:class:`~polymodal.speech.distributed.RayTranscriber`: the model must be a name or folder
    every node has, and the files visible to every node at the same paths).
    """
    options = _decode_options(locals())
    chosen = transcriber or model
    if ray or address:
        chosen = RayTranscriber(chosen, device=device, compute_type=compute_type, address=address)
    return write_transcripts(
        inputs,
        out_dir,
        options,
        formats=formats,
        model=chosen,
        device=device,
        compute_type=compute_type,
        drop_suspect=drop_suspect,
        force=force,
        speakers=speakers,
        progress=progress,
        cancel=cancel,
    )
