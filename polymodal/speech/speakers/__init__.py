"""Speakers: who spoke when (diarization), offline, and who said what in a transcript.

Stages, one a file: :mod:`.voices` (speech regions and voice embeddings; the catalogue's
``voice`` loader is :func:`.voices.load_voice_encoder`), :mod:`.cluster` (windows into voices
and turns), :mod:`.diarizer` (sessions fed block by block; the window backend),
:mod:`.segmentation` and :mod:`.segmented` (the default backend when segmentation-3.0 is
installed: local speakers per 10 s chunk, joined across chunks), :mod:`.enrol` (named voice
clips), :mod:`.label` (turns onto a transcript's segments and words) and :mod:`.rttm` (turns as
RTTM for scoring tools).
"""

from __future__ import annotations

from polymodal.speech.results import Diarization
from polymodal.speech.speakers.diarizer import (
    DiarizationSession,
    Diarizer,
    EmbeddingDiarizer,
    check_enrolment,
    diarize,
    get_diarizer,
)
from polymodal.speech.speakers.label import label_transcript
from polymodal.speech.speakers.segmented import SegmentedDiarizer
from polymodal.speech.speakers.voices import VoiceEncoder, load_voice_encoder

__all__ = [
    "Diarization",
    "DiarizationSession",
    "Diarizer",
    "EmbeddingDiarizer",
    "SegmentedDiarizer",
    "VoiceEncoder",
    "check_enrolment",
    "diarize",
    "get_diarizer",
    "label_transcript",
    "load_voice_encoder",
]
