"""A realtime transcription session's settings, as OpenAI's ``session.update`` spells them.

Two spellings arrive: the GA one (``session: {type: "transcription", audio: {input: {format,
transcription, turn_detection}}}``) and the beta ``transcription_session.update``
(``input_audio_format``, ``input_audio_transcription``, ``turn_detection``). Only the
fields present change; ``turn_detection: null`` turns server VAD off (items only on commit).
Each becomes one :class:`SessionConfig`, which builds the library's
:class:`polymodal.LiveOptions` and shows itself back in ``session.updated``.

Accepted beyond OpenAI: any PCM rate from 8 to 48 kHz (OpenAI takes 24 kHz only; the audio is
resampled to 16 kHz either way). ``semantic_vad`` is served as ``server_vad`` (there is no
semantic turn model here); noise reduction is accepted and not applied.

One extension, as OpenAI's protocol has no field for it: ``polymodal_speakers: true`` in the
transcription object (``session.audio.input.transcription``, or the beta
``session.input_audio_transcription``) labels each completed item's voice: every
``conversation.item.input_audio_transcription.completed`` then carries ``speaker`` (``"A"``,
``"B"``, ... stable within the session; ``null`` for an item too short to tell). Off by
default, as it embeds every item's voice; ``session.updated`` shows it only while it is on,
so sessions that never ask see OpenAI's shapes unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polymodal
from polymodal.errors import BadInputError

DEFAULT_RATE = 24_000


@dataclass(frozen=True)
class TurnDetection:
    """``server_vad``'s three numbers, with OpenAI's defaults."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    def shown(self) -> dict[str, Any]:
        return {"type": "server_vad", **self.__dict__}


@dataclass(frozen=True)
class SessionConfig:
    session_id: str
    rate: int = DEFAULT_RATE
    model: str = "whisper-1"
    language: str | None = None
    prompt: str | None = None
    turn_detection: TurnDetection | None = TurnDetection()
    speakers: bool = False

    def options(self) -> polymodal.LiveOptions:
        """The library's options for these settings (raises its sentence for bad values)."""
        defaults = polymodal.LiveOptions()
        decode = replace(defaults.decode, language=self.language, initial_prompt=self.prompt)
        turns = self.turn_detection or TurnDetection()
        return replace(
            defaults,
            decode=decode,
            turn_detection=self.turn_detection is not None,
            vad_threshold=turns.threshold,
            prefix_padding_ms=turns.prefix_padding_ms,
            silence_duration_ms=turns.silence_duration_ms,
            speakers=self.speakers,
        )

    def shown(self, *, beta: bool = False) -> dict[str, Any]:
        """``{"session": ...}`` as ``session.created`` / ``.updated`` carry it."""
        transcription = {"model": self.model, "language": self.language, "prompt": self.prompt}
        if self.speakers:
            transcription["polymodal_speakers"] = True
        turns = self.turn_detection.shown() if self.turn_detection else None
        if beta:
            session = {
                "id": self.session_id,
                "object": "realtime.transcription_session",
                "input_audio_format": "pcm16",
                "input_audio_transcription": transcription,
                "turn_detection": turns,
                "input_audio_noise_reduction": None,
                "include": [],
            }
            return {"session": session}
        audio_input = {
            "format": {"type": "audio/pcm", "rate": self.rate},
            "transcription": transcription,
            "turn_detection": turns,
            "noise_reduction": None,
        }
        session = {
            "type": "transcription",
            "id": self.session_id,
            "object": "realtime.transcription_session",
            "audio": {"input": audio_input},
            "include": [],
        }
        return {"session": session}


def parse_update(config: SessionConfig, session: Any) -> SessionConfig:
    """``config`` changed by a GA ``session.update``'s ``session`` object."""
    session = _object(session, "session")
    if session.get("type", "transcription") != "transcription":
        raise BadInputError(
            "This server runs transcription sessions only: set session.type to "
            "'transcription' and connect with intent=transcription.",
            param="session.type",
        )
    audio = _object(session.get("audio", {}), "session.audio")
    given = _object(audio.get("input", {}), "session.audio.input")
    if "format" in given:
        config = replace(config, rate=_rate(given["format"]))
    if "transcription" in given:
        config = _transcription(config, given["transcription"], "session.audio.input")
    if "turn_detection" in given:
        config = _turns(config, given["turn_detection"], "session.audio.input.turn_detection")
    return _checked(config)


def beta_config(config: SessionConfig, session: Any) -> SessionConfig:
    """``config`` changed by a beta ``transcription_session.update``'s ``session`` object."""
    session = _object(session, "session")
    if "input_audio_format" in session:
        if session["input_audio_format"] != "pcm16":
            raise BadInputError(
                "Only input_audio_format 'pcm16' is supported (16-bit PCM at 24 kHz).",
                param="session.input_audio_format",
            )
        config = replace(config, rate=DEFAULT_RATE)
    if "input_audio_transcription" in session:
        config = _transcription(config, session["input_audio_transcription"], "session")
    if "turn_detection" in session:
        config = _turns(config, session["turn_detection"], "session.turn_detection")
    return _checked(config)


def _checked(config: SessionConfig) -> SessionConfig:
    config.options()  # the library's checks, each with its sentence
    return config


def _object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInputError(f"'{param}' must be a JSON object.", param=param)
    return value


def _rate(value: Any) -> int:
    audio_format = _object(value, "session.audio.input.format")
    kind = audio_format.get("type", "audio/pcm")
    if kind != "audio/pcm":
        raise BadInputError(
            f"The audio format '{kind}' is not supported: send 'audio/pcm' (16-bit PCM).",
            param="session.audio.input.format.type",
        )
    rate = audio_format.get("rate", DEFAULT_RATE)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 48000:
        raise BadInputError(
            f"The audio rate must be a whole number of Hz from 8000 to 48000, not {rate!r}.",
            param="session.audio.input.format.rate",
        )
    return rate


def _transcription(config: SessionConfig, value: Any, where: str) -> SessionConfig:
    if value is None:
        return config
    given = _object(value, f"{where}.transcription")
    changes: dict[str, Any] = {}
    for name in ("model", "language", "prompt"):
        if name in given:
            field = given[name]
            if field is not None and not isinstance(field, str):
                raise BadInputError(
                    f"'{name}' must be a string.", param=f"{where}.transcription.{name}"
                )
            changes[name] = field or None
    if "polymodal_speakers" in given:
        wanted = given["polymodal_speakers"]
        if wanted is not None and not isinstance(wanted, bool):
            raise BadInputError(
                "'polymodal_speakers' must be true or false.",
                param=f"{where}.transcription.polymodal_speakers",
            )
        changes["speakers"] = bool(wanted)
    if "model" in changes and changes["model"] is None:
        changes["model"] = "whisper-1"
    return replace(config, **changes)


def _turns(config: SessionConfig, value: Any, param: str) -> SessionConfig:
    if value is None:
        return replace(config, turn_detection=None)
    given = _object(value, param)
    kind = given.get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        raise BadInputError(
            f"Unknown turn detection '{kind}': use server_vad or null.", param=f"{param}.type"
        )
    current = config.turn_detection or TurnDetection()
    changes: dict[str, Any] = {}
    for name, kinds in (
        ("threshold", (int, float)),
        ("prefix_padding_ms", (int,)),
        ("silence_duration_ms", (int,)),
    ):
        if given.get(name) is not None:
            field = given[name]
            if isinstance(field, bool) or not isinstance(field, kinds):
                raise BadInputError(f"'{name}' must be a number.", param=f"{param}.{name}")
            changes[name] = float(field) if name == "threshold" else field
    return replace(config, turn_detection=replace(current, **changes))
