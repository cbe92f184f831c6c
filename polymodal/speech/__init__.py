"""The speech room: Whisper transcription and translation, subtitles, speaker labels.

from polymodal.speech import transcribe
transcript = transcribe("talk.mp3", word_timestamps=True)
for segment in transcript.segments:
    print(segment.start, segment.end, segment.text, segment.suspect_reasons)

Stages, one a file: ``options`` (typed options), ``chunks`` (VAD and 30 s windows), ``engine``
and ``generate`` (batched decoding), ``tokens``, ``suspect``, ``transcriber`` (the one route
from input to :class:`Transcript`), ``folders`` (many files, output folders), ``formats`` and
``subtitles`` (text, SRT, WebVTT, JSON), ``speakers/`` (diarization and labelling), ``api``
(the keyword-argument doors for users).
"""

from __future__ import annotations

from polymodal.speech.api import transcribe, transcribe_folder
from polymodal.speech.folders import (
    FileOutcome,
    FolderReport,
    find_media,
    transcribe_files,
    write_transcripts,
)
from polymodal.speech.formats import (
    FORMATS,
    output_formats,
    readable_transcript,
    render,
    render_transcript,
    without_suspect,
)
from polymodal.speech.options import DecodeOptions, SpeakerOptions
from polymodal.speech.results import (
    Diarization,
    Segment,
    SpeakerSummary,
    SpeakerTurn,
    Transcript,
    TranscriptionInfo,
    Word,
)
from polymodal.speech.speakers import diarize, label_transcript
from polymodal.speech.transcriber import AudioInput, Transcriber

__all__ = [
    "FORMATS",
    "AudioInput",
    "DecodeOptions",
    "Diarization",
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
    "find_media",
    "label_transcript",
    "output_formats",
    "readable_transcript",
    "render",
    "render_transcript",
    "transcribe",
    "transcribe_files",
    "transcribe_folder",
    "without_suspect",
    "write_transcripts",
]
