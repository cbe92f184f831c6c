"""Typed results of the speech room. Immutable records whose fields are their JSON keys.

:func:`polymodal.render.to_data` turns them into the JSON the CLI prints and writes and the
server returns (``word`` as faster-whisper and OpenAI spell it; ``text`` and ``suspect`` added
as derived keys), and :func:`polymodal.render.from_data` reads it back. Text, SRT and WebVTT are
rendered from the same records by ``formats``.

Times are seconds from the start of the input. ``speaker`` is ``None`` unless speaker labelling
was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None

    @property
    def text(self) -> str:
        """The word's text (``word``), under the name segments use."""
        return self.word


@dataclass(frozen=True)
class Segment:
    """One decoded stretch of speech with Whisper's own quality signals.

    ``id`` counts from 1 in every transcript, as faster-whisper numbers its segments.
    ``suspect_reasons`` lists why the text may be invented (empty when it looks sound):
    ``repetition``, ``compression_ratio``, ``low_logprob``, ``no_speech``, ``outside_speech``,
    ``stock_phrase``. ``speaker_name`` is the name shown for ``speaker``: the enrolled name
    where one matched, else the label.
    """

    render_properties: ClassVar[tuple[str, ...]] = ("suspect",)

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
    speaker_name: str | None = None

    @property
    def suspect(self) -> bool:
        return bool(self.suspect_reasons)


@dataclass(frozen=True)
class TranscriptionInfo:
    """What a transcript is of: available before the first segment when streaming."""

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
    """A whole transcription: what every output format is rendered from.

    The header fields are those of :class:`TranscriptionInfo` (``info`` gives them as one
    record), kept flat so that the JSON is flat, as it always was.
    """

    render_properties: ClassVar[tuple[str, ...]] = ("text",)

    source: str | None
    model: str
    task: str
    language: str
    language_probability: float
    duration: float
    segments: tuple[Segment, ...]
    speakers: tuple[SpeakerSummary, ...] = field(default=())

    @classmethod
    def of(
        cls,
        info: TranscriptionInfo,
        segments: tuple[Segment, ...],
        speakers: tuple[SpeakerSummary, ...] = (),
    ) -> Transcript:
        """A transcript from its header record and its segments."""
        return cls(
            source=info.source,
            model=info.model,
            task=info.task,
            language=info.language,
            language_probability=info.language_probability,
            duration=info.duration,
            segments=tuple(segments),
            speakers=tuple(speakers),
        )

    @property
    def info(self) -> TranscriptionInfo:
        return TranscriptionInfo(
            language=self.language,
            language_probability=self.language_probability,
            duration=self.duration,
            model=self.model,
            task=self.task,
            source=self.source,
        )

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass(frozen=True)
class Diarization:
    """Speaker turns in time order; ``names`` maps labels (``SPEAKER_n``) to enrolled names."""

    render_properties: ClassVar[tuple[str, ...]] = ("labels",)

    turns: tuple[SpeakerTurn, ...]
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every speaker label, in order of first appearance."""
        return tuple(dict.fromkeys(turn.speaker for turn in self.turns))

    def display(self, label: str) -> str:
        """The enrolled name for a label where one matched, else the label itself."""
        return self.names.get(label, label)
