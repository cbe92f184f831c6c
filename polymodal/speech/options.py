"""Typed options of the speech room, built once at the edge (the CLI, the server, ``transcribe()``)
and passed down unchanged: :class:`DecodeOptions` says how to decode, :class:`SpeakerOptions`
how to label speakers.

Both are plain frozen records: they serialise through :mod:`polymodal.render` (a server can take
them as JSON) and every field has a default. Checks that need no model run when a record is
built; :meth:`DecodeOptions.checked` adds the ones that need the loaded model (English-only
models). Every error names the offending field in its ``param``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from polymodal.errors import BadInputError

TASKS = ("transcribe", "translate")


class ModelFacts(Protocol):
    """What option checks need to know of a loaded model (``engine.WhisperEngine`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def multilingual(self) -> bool: ...


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode. Defaults are faster-whisper's: beam search 5, each window prompted with
    the text before it; ``batch_size`` files are decoded together.

    Beam 5: on four espeak passages (562 words) it made 24 errors against greedy's 28, at
    about 1.3x greedy's time (``beam_size=1`` is the faster choice).

    The three thresholds are Whisper's hallucination guards: a window whose text compresses too
    well (loops) or whose average log-probability is too low is decoded again (a beam of 5 if
    the first pass was narrower, then sampling at ``temperatures``); a window Whisper itself
    thinks is silence (``no_speech_prob`` above its threshold with a low log-probability) is
    skipped. ``None`` disables a guard. The same thresholds flag suspect segments.

    ``condition_on_previous_text`` prompts each window with its file's text so far (reset after
    a window that looped or needed sampling, so one bad window does not poison the rest), as
    Whisper does to keep names and spelling consistent. A file's windows are decoded one after
    another anyway, so it costs little: the four passages took 20.3 s with it, 20.7 s without,
    and made 24 errors either way.

    ``full_audio_context``: pad every window to Whisper's full 30 s before the encoder, as
    Whisper and faster-whisper do. By default a short window (a voice note, the tail of a file)
    is padded only to its length plus a 5 s margin, rounded up to 5 s: the encoder's cost
    follows its input (10 s of context took 0.16 s against 1.1 s for 30 s), and on our
    espeak-ng passages and clips the words did not get worse (``engine.context_frames``).

    The compute type (int8, float32 ...) belongs to the loaded model, not to these options:
    see ``Transcriber(compute_type=...)``.
    """

    language: str | None = None
    """ISO 639-1 code of the spoken language; ``None`` detects it in every window, and where it
    changes inside one, so each part of a file is decoded in its own language."""
    task: str = "transcribe"
    """``transcribe`` keeps the language; ``translate`` writes English."""
    initial_prompt: str | None = None
    """Text that primes the first window (names, vocabulary, spelling)."""
    word_timestamps: bool = False
    """Time every word (cross-attention alignment); speaker labelling turns it on."""
    vad: bool = True
    """Cut out silence with voice-activity detection before decoding (no invented text)."""
    beam_size: int = 5
    """Beam width; 1 is greedy decoding (faster, a few more errors)."""
    batch_size: int = 8
    """How many files' current windows share one encoder and decoder pass."""
    compression_ratio_threshold: float | None = 2.4
    """Above it a window's text is looping: decoded again, and its segments flagged."""
    log_prob_threshold: float | None = -1.0
    """Below it a window's text is unsure: decoded again, and its segments flagged."""
    no_speech_threshold: float | None = 0.6
    """Above it (with a low log-probability) Whisper judges a window silent: it is dropped."""
    fallback: bool = True
    """Decode a window that fails the guards again (wider beam, then sampling)."""
    temperatures: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    """Sampling temperatures the fallback tries, in order, after the wider beam (Whisper's)."""
    condition_on_previous_text: bool = True
    """Prompt each window with the text before it in the same file (Whisper's context)."""
    full_audio_context: bool = False
    """Pad every window to 30 s before the encoder, as Whisper does (slower on short audio)."""
    # audio and voice activity
    level_audio: bool = True
    """Level loudness second by second before VAD and Whisper, so quiet voices are heard."""
    vad_threshold: float = 0.25
    """Silero's speech probability threshold (0.5, its default, lost quiet far-field talk)."""
    vad_recheck_threshold: float | None = 0.15
    """Stretches the VAD called silent are listened to again at this threshold (``None``: off)."""
    # decoding guards and languages
    repetition_guard: bool = True
    """Cut a window's text that still loops after every retry, and flag it ``loop``."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise BadInputError(
                f"Unknown task '{self.task}': use transcribe or translate.", param="task"
            )
        for name in ("beam_size", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                words = name.replace("_", " ")
                raise BadInputError(f"The {words} must be at least 1, not {value!r}.", param=name)

    def checked(self, engine: ModelFacts) -> DecodeOptions:
        """These options validated against the model, with a normalised language code."""
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        language = self.language.strip().lower() if self.language else None
        if language and language not in _LANGUAGE_CODES:
            raise BadInputError(
                f"Unknown language code '{self.language}': use an ISO 639-1 code Whisper knows, "
                "such as en, de, es, fr, ja.",
                param="language",
            )
        if not engine.multilingual:
            if language not in (None, "en") or self.task == "translate":
                raise BadInputError(
                    f"Model '{engine.name}' is English-only: it can neither read "
                    f"'{language or self.language}' nor translate; use whisper-base.",
                    param="task" if self.task == "translate" else "language",
                )
            language = "en"
        return replace(self, language=language)


def _count_error(what: str, value: object, param: str) -> BadInputError:
    return BadInputError(f"The {what} must be a positive whole number, not {value!r}.", param=param)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class SpeakerOptions:
    """How to label speakers: a fixed count or ``"auto"`` (with optional bounds), and
    enrolment clips ``{name: path}`` that name the voices they match."""

    speakers: int | Literal["auto"] = "auto"
    """How many people speak, or ``"auto"`` to find out."""
    min_speakers: int | None = None
    """With ``"auto"``: at least this many speakers."""
    max_speakers: int | None = None
    """With ``"auto"``: at most this many speakers."""
    enroll: Mapping[str, Path] = field(default_factory=dict)
    """Name -> a clip of that voice (2 s of speech or more); matching voices get the name."""
    model: str | None = None
    """The catalogue's ``voice`` model; ``None`` takes the packaged encoder."""

    def __post_init__(self) -> None:
        if self.speakers != "auto" and not _is_count(self.speakers):
            raise BadInputError(
                f"The number of speakers must be 'auto' or a positive whole number, "
                f"not {self.speakers!r}.",
                param="speakers",
            )
        for what, name in (("minimum", "min_speakers"), ("maximum", "max_speakers")):
            value = getattr(self, name)
            if value is not None and not _is_count(value):
                raise _count_error(f"{what} number of speakers", value, name)
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise BadInputError(
                f"The minimum number of speakers ({self.min_speakers}) is above the maximum "
                f"({self.max_speakers}).",
                param="min_speakers",
            )

    @classmethod
    def parse(
        cls,
        speakers: str,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        enroll: Sequence[str] = (),
    ) -> SpeakerOptions:
        """Options from text, as a command line or a form gives them: ``"auto"`` or a count,
        and ``NAME=PATH`` enrolment items (each clip must exist)."""
        text = str(speakers).strip().lower()
        count: int | Literal["auto"] = "auto"
        if text != "auto":
            try:
                count = int(text)
            except ValueError:
                raise BadInputError(
                    "The number of speakers must be 'auto' or a positive whole number, "
                    f"not '{speakers}'.",
                    param="speakers",
                ) from None
        return cls(count, min_speakers, max_speakers, parse_enrolments(enroll))


def parse_enrolments(items: Sequence[str]) -> dict[str, Path]:
    """``NAME=PATH`` items as ``{name: clip}``; each name once, each clip an existing file."""
    enrolled: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise BadInputError(
                f"An enrolment needs NAME=CLIP (for example Alice=alice.wav), not '{item}'.",
                param="enroll",
            )
        if name in enrolled:
            raise BadInputError(
                f"The name '{name}' is enrolled twice; give each voice its own name.",
                param="enroll",
            )
        clip = Path(path).expanduser()
        if not clip.is_file():
            raise BadInputError(f"Enrolment clip for '{name}' not found: {clip}.", param="enroll")
        enrolled[name] = clip
    return enrolled
