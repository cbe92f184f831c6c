"""The speech room: Whisper transcription and translation, subtitles, speaker labels.

from polymodal.speech import transcribe
transcript = transcribe("talk.mp3", word_timestamps=True)
for segment in transcript.segments:
    print(segment.start, segment.end, segment.text, segment.suspect_reasons)
"""

from __future__ import annotations

import os
from typing import Any

from polymodal.progress import ProgressCallback
from polymodal.speech.folders import FileOutcome, FolderReport, media_files, transcribe_folder
from polymodal.speech.formats import FORMATS, drop_suspect, render, transcript_dict
from polymodal.speech.results import (
    Segment,
    SpeakerSummary,
    SpeakerTurn,
    Transcript,
    TranscriptionInfo,
    Word,
)
from polymodal.speech.transcriber import AudioInput, Transcriber

_LAZY = {"diarize", "SpeakerOptions", "label_transcript"}


def __getattr__(name: str) -> Any:
    # The speakers module pulls in resemblyzer and scikit-learn: import it only when asked.
    if name in _LAZY:
        from polymodal.speech import speakers

        return getattr(speakers, name)
    raise AttributeError(f"module 'polymodal.speech' has no attribute {name!r}")


def transcribe(
    audio: AudioInput,
    *,
    model: str | os.PathLike[str] | None = None,
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
    condition_on_previous_text: bool = True,
    full_audio_context: bool = False,
    device: str = "auto",
    speakers: Any = None,
    progress: ProgressCallback | None = None,
) -> Transcript:
    """Transcribe (or translate to English) one file or 16 kHz waveform.

    The model is loaded once per process and reused. ``language=None`` detects it (reported
    with its probability in ``transcript.info``); ``speakers`` (a ``SpeakerOptions``) labels
    who spoke. Raises ``BadInputError`` for unreadable or speechless input and
    ``ModelUnavailableError`` for an unknown model.
    """
    return Transcriber(model, device=device).transcribe(
        audio,
        language=language,
        task=task,
        initial_prompt=initial_prompt,
        word_timestamps=word_timestamps,
        vad=vad,
        beam_size=beam_size,
        batch_size=batch_size,
        compression_ratio_threshold=compression_ratio_threshold,
        log_prob_threshold=log_prob_threshold,
        no_speech_threshold=no_speech_threshold,
        condition_on_previous_text=condition_on_previous_text,
        full_audio_context=full_audio_context,
        speakers=speakers,
        progress=progress,
    )


__all__ = [
    "FORMATS",
    "FileOutcome",
    "FolderReport",
    "Segment",
    "SpeakerOptions",
    "SpeakerSummary",
    "SpeakerTurn",
    "Transcriber",
    "Transcript",
    "TranscriptionInfo",
    "Word",
    "diarize",
    "drop_suspect",
    "label_transcript",
    "media_files",
    "render",
    "transcribe",
    "transcribe_folder",
    "transcript_dict",
]
