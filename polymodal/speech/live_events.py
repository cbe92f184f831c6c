"""What a live session tells its caller: typed events, one record per happening.

Per item (one stretch of speech): :class:`SpeechStarted`, any number of
:class:`TranscriptDelta` (append-only; joined, they are the item's text),
:class:`SpeechStopped`, :class:`ItemCommitted`, then exactly one :class:`TranscriptCompleted`
or :class:`TranscriptFailed`. ``kind`` names each for shells that render them (the server's
realtime route maps it to OpenAI's event types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from polymodal.speech.results import Word


@dataclass(frozen=True)
class SpeechStarted:
    """Speech was detected; ``audio_start_ms`` (into the session's audio) includes the padding."""

    kind: ClassVar[str] = "speech_started"
    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """Speech ended; ``audio_end_ms`` includes the silence that ended it."""

    kind: ClassVar[str] = "speech_stopped"
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True)
class ItemCommitted:
    """The item's audio is complete; its last text follows, then its completed transcript."""

    kind: ClassVar[str] = "committed"
    item_id: str
    previous_item_id: str | None


@dataclass(frozen=True)
class TranscriptDelta:
    """Committed text, appended to the item's text so far (words keep Whisper's leading
    space, except the item's first word)."""

    kind: ClassVar[str] = "delta"
    item_id: str
    delta: str


@dataclass(frozen=True)
class TranscriptCompleted:
    """The item's whole text (its deltas joined) and its timed words (session seconds);
    ``speaker`` labels its voice (``A``, ``B``, ...) when the session asked for speakers."""

    kind: ClassVar[str] = "completed"
    item_id: str
    transcript: str
    words: tuple[Word, ...] = ()
    audio_seconds: float = 0.0
    speaker: str | None = None


@dataclass(frozen=True)
class TranscriptFailed:
    """The item could not be transcribed; ``message`` is the error's sentence."""

    kind: ClassVar[str] = "failed"
    item_id: str
    message: str
    code: str | None = None


LiveEvent = (
    SpeechStarted
    | SpeechStopped
    | ItemCommitted
    | TranscriptDelta
    | TranscriptCompleted
    | TranscriptFailed
)
