"""The settings of one live session (:class:`LiveOptions`), apart from the engine that uses them
(:mod:`polymodal.speech.live`, which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from polymodal.errors import BadInputError
from polymodal.speech.options import DecodeOptions


@dataclass(frozen=True)
class LiveOptions:
    """How a live session decodes and where its items end; every field has a default.

    ``decode`` serves an item's final decode (at its end, or a manual commit) unchanged;
    the re-decodes while it is spoken use ``interim_beam_size``. Greedy interim decodes
    cost about 0.65x beam 5's on 5-8 s buffers here, and every word waits for two of them:
    on a 55 s espeak-ng passage (whisper-base, load 3 on 2 cores) step 0.5 s, trim 6 s and
    greedy interim decodes gave a median word lag of 1.5 s (p95 2.7 s) and WER 0.056
    against 0.042 offline; beam 5 throughout with 1 s steps, 2.7 s (p95 4.5 s) and 0.042
    (one in-process run each, on a machine shared with other work).
    ``decode.initial_prompt`` is the user's prompt, kept before the committed text.
    """

    decode: DecodeOptions = field(default_factory=DecodeOptions)
    interim_beam_size: int | None = 1
    """Beam of the decodes while an item is spoken (``None``: ``decode.beam_size``)."""
    turn_detection: bool = True
    """Server VAD: items start and end with speech. ``False``: items only on commit()."""
    vad_threshold: float = 0.5
    """Silero's speech probability that starts speech (OpenAI's server_vad default)."""
    silence_duration_ms: int = 500
    """Silence that ends an item (OpenAI's default)."""
    prefix_padding_ms: int = 300
    """Audio kept before the moment speech was detected (OpenAI's default)."""
    carry_seconds: float = 3.0
    """The end of an item's audio kept in front of the next item's when the pause between
    them is shorter than ``carry_gap_seconds``: an item that starts mid-thought ("gathered
    to review" after a hesitation) is heard with what came before, as offline decoding
    hears it (0: every item decoded alone)."""
    carry_gap_seconds: float = 2.0
    min_speech_ms: int = 100
    """Speech shorter than this never starts an item (noise blips, clicks)."""
    step_seconds: float = 0.5
    """New audio between two decodes of the growing buffer (a decode that takes longer
    than this is followed at once by the next, on all the audio that came meanwhile)."""
    min_agreement_seconds: float = 2.5
    """A hypothesis of less audio commits nothing: Whisper misreads an item's first word
    from a second or two of audio, and two such readings can agree ("I'm this" for
    "Scientists" on our passage)."""
    trim_seconds: float = 6.0
    """A buffer longer than this is cut after its last committed segment or sentence."""
    max_buffer_seconds: float = 20.0
    """A buffer longer than this is cut after its last committed word, whatever it ends."""
    max_commit_seconds: float = 300.0
    """The most audio held for one manual commit (turn detection off)."""
    speakers: bool = False
    """Label each completed item's speaker (``A``, ``B``, ... stable within the session;
    :mod:`~polymodal.speech.live_speakers`). Off by default: it embeds every item's voice."""

    def __post_init__(self) -> None:
        if not 0.0 < self.vad_threshold < 1.0:
            raise BadInputError(
                f"The VAD threshold must be between 0 and 1, not {self.vad_threshold}.",
                param="threshold",
            )
        for name in ("silence_duration_ms", "prefix_padding_ms", "min_speech_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
                raise BadInputError(
                    f"{name} must be a whole number of milliseconds from 0 to 10000, "
                    f"not {value!r}.",
                    param=name,
                )
        beam = self.interim_beam_size
        if beam is not None and (isinstance(beam, bool) or not isinstance(beam, int) or beam < 1):
            raise BadInputError(
                f"The interim beam size must be at least 1, not {beam!r}.",
                param="interim_beam_size",
            )
        if not 0.2 <= self.step_seconds <= self.trim_seconds < self.max_buffer_seconds <= 28:
            raise BadInputError(
                "Live buffering needs 0.2 <= step_seconds <= trim_seconds < "
                "max_buffer_seconds <= 28 (one Whisper window).",
                param="step_seconds",
            )
