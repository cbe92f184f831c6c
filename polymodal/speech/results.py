"""Typed results of the speech room. Immutable records; renderers turn them into text formats.

Times are seconds from the start of the input file. ``speaker`` is ``None`` unless speaker
labelling was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    """One decoded stretch of speech with Whisper's own quality signals.

    ``suspect_reasons`` lists why the text may be invented (empty when it looks sound):
    ``repetition``, ``compression_ratio``, ``low_logprob``, ``no_speech``, ``outside_speech``,
    ``stock_phrase``.
    """

    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    suspect_reasons: tuple[str, ...] = ()
    speaker: str | None = None

    @property
    def suspect(self) -> bool:
        return bool(self.suspect_reasons)


@dataclass(frozen=True)
class TranscriptionInfo:
    language: str
    language_probability: float
    duration: float
    model: str
    task: str = "transcribe"
    source: str | None = None


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of audio attributed to one speaker by the diarizer."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakerSummary:
    label: str
    name: str | None
    speaking_time: float
    turns: int


@dataclass(frozen=True)
class Transcript:
    """A whole transcription: what every output format is rendered from."""

    info: TranscriptionInfo
    segments: tuple[Segment, ...]
    speakers: tuple[SpeakerSummary, ...] = field(default=())

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())
