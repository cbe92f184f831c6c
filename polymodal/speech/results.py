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
    ``loop`` (a repetition loop the decoder cut: left out of text and subtitles by default),
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
    language: str | None = None
    """The language this segment was decoded in (each window's own, see ``DecodeOptions``)."""

    @property
    def suspect(self) -> bool:
        return bool(self.suspect_reasons)


@dataclass(frozen=True)
class LanguageTime:
    """A language of a transcript and its speaking time (seconds of its segments)."""

    language: str
    seconds: float


def speaking_times(segments) -> tuple[LanguageTime, ...]:
    """The languages of ``segments`` with their seconds, most spoken first."""
    totals: dict[str, float] = {}
    for segment in segments:
        if segment.language:
            totals[segment.language] = (
                totals.get(segment.language, 0.0) + segment.end - segment.start
            )
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return tuple(LanguageTime(language, round(seconds, 3)) for language, seconds in ranked)


@dataclass(frozen=True)
class TranscriptionInfo:
    """What a transcript is of: available before the first segment when streaming."""

    language: str
    language_probability: float
    duration: float
    model: str
    task: str = "transcribe"
    source: str | None = None
    speech_seconds: float = 0.0
    """Seconds of speech voice-activity detection heard (0 while streaming: known at the end)."""
    covered_seconds: float = 0.0
    """Seconds of that speech inside some segment's span."""
    speech_regions: tuple[tuple[float, float], ...] = ()
    """Where the speech was heard, ``(start, end)`` seconds."""
    untranscribed_speech: tuple[tuple[float, float], ...] = ()
    """Heard speech (2 s or more) that got no text even when decoded again on its own."""
    warnings: tuple[str, ...] = ()
    """Sentences for the user (the CLI prints them): speech lost, and why it matters."""


_COVERAGE = (
    "speech_seconds",
    "covered_seconds",
    "speech_regions",
    "untranscribed_speech",
    "warnings",
)


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
    record), kept flat so that the JSON is flat, as it always was: with the speech heard
    (``speech_seconds``, ``speech_regions``), how much of it the text covers
    (``covered_seconds``) and what got no text (``untranscribed_speech``, ``warnings``).
    With speakers, ``speaker_turns`` are the diarizer's turns over all the speech heard, so
    speech the decoder gave no words still has a speaker.
    """

    render_properties: ClassVar[tuple[str, ...]] = ("text", "languages")

    source: str | None
    model: str
    task: str
    language: str
    language_probability: float
    duration: float
    segments: tuple[Segment, ...]
    speakers: tuple[SpeakerSummary, ...] = field(default=())
    speech_seconds: float = 0.0
    covered_seconds: float = 0.0
    speech_regions: tuple[tuple[float, float], ...] = ()
    untranscribed_speech: tuple[tuple[float, float], ...] = ()
    warnings: tuple[str, ...] = ()
    speaker_turns: tuple[SpeakerTurn, ...] = ()

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
            **{name: getattr(info, name) for name in _COVERAGE},
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
            **{name: getattr(self, name) for name in _COVERAGE},
        )

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def languages(self) -> tuple[LanguageTime, ...]:
        """Every language spoken, with its seconds of segments, most spoken first."""
        return speaking_times(self.segments)


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
