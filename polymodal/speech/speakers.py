"""Speakers: who spoke when (diarization), offline, and who said what in a transcript.

``diarize(audio)`` finds speaker turns on its own; ``label_transcript`` (in
:mod:`polymodal.speech.speakers_label`) puts them on a Whisper transcript. The work happens
behind the small :class:`Diarizer` interface: the default embeds voice windows with the
catalogue's ``voice`` model (Resemblyzer, packaged) and clusters them
(:mod:`polymodal.speech.speakers_cluster`); a loader in the catalogue that returns an object
with a ``diarize`` method (a pyannote pipeline, say) replaces the whole pipeline instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from polymodal import catalog
from polymodal.errors import BadInputError
from polymodal.speech import speakers_cluster, voices
from polymodal.speech.results import SpeakerTurn
from polymodal.speech.speakers_label import label_transcript
from polymodal.speech.voices import VoiceEncoder, load_voice_encoder

__all__ = [
    "Diarization",
    "Diarizer",
    "EmbeddingDiarizer",
    "SpeakerOptions",
    "diarize",
    "label_transcript",
    "load_voice_encoder",
]

# An enrolled voice names a cluster when the cluster's mean window vector and the clip's agree
# at least this much. Measured on the test voices (espeak-ng, one sentence per clip): a clip and
# the cluster of its own voice agree at 0.94-0.96, a clip and another voice's cluster at
# 0.57-0.82. 0.88 sits between with room on both sides, so a merely similar voice stays
# anonymous rather than being given a wrong name.
ENROL_MATCH = 0.88


@dataclass(frozen=True)
class SpeakerOptions:
    """How to label speakers: a fixed count or ``"auto"`` (with optional bounds), and
    enrolment clips ``{name: path}`` that name the voices they match."""

    speakers: int | Literal["auto"] = "auto"
    min_speakers: int | None = None
    max_speakers: int | None = None
    enroll: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.speakers != "auto" and (
            isinstance(self.speakers, bool)
            or not isinstance(self.speakers, int)
            or self.speakers < 1
        ):
            raise BadInputError(
                f"Speakers must be 'auto' or a positive whole number, not {self.speakers!r}."
            )
        for flag, value in (("min", self.min_speakers), ("max", self.max_speakers)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise BadInputError(
                    f"The {flag}imum number of speakers must be a positive whole number, "
                    f"not {value!r}."
                )
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise BadInputError(
                f"The minimum number of speakers ({self.min_speakers}) is above the maximum "
                f"({self.max_speakers})."
            )

    @classmethod
    def parse(
        cls,
        speakers: str,
        min_speakers: int | None,
        max_speakers: int | None,
        enroll: Sequence[str],
    ) -> SpeakerOptions:
        """Options from command-line text: ``"auto"`` or a count, and ``NAME=PATH`` items."""
        text = str(speakers).strip().lower()
        count: int | Literal["auto"] = "auto"
        if text != "auto":
            try:
                count = int(text)
            except ValueError:
                raise BadInputError(
                    f"--speakers must be 'auto' or a positive whole number, not '{speakers}'."
                ) from None
            if count < 1:
                raise BadInputError(
                    f"--speakers must be 'auto' or a positive whole number, not '{speakers}'."
                )
        return cls(count, min_speakers, max_speakers, _parse_enrolments(enroll))


def _parse_enrolments(items: Sequence[str]) -> dict[str, Path]:
    enrolled: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise BadInputError(
                f"--enroll takes NAME=CLIP (for example Alice=alice.wav), not '{item}'."
            )
        if name in enrolled:
            raise BadInputError(
                f"The name '{name}' is enrolled twice; give each voice its own name."
            )
        clip = Path(path).expanduser()
        if not clip.is_file():
            raise BadInputError(f"Enrolment clip for '{name}' not found: {clip}.")
        enrolled[name] = clip
    return enrolled


@dataclass(frozen=True)
class Diarization:
    """Speaker turns in time order; ``names`` maps labels (``SPEAKER_n``) to enrolled names."""

    turns: tuple[SpeakerTurn, ...]
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every speaker label, in order of first appearance."""
        return tuple(dict.fromkeys(turn.speaker for turn in self.turns))

    def display(self, label: str) -> str:
        """The enrolled name for a label where one matched, else the label itself."""
        return self.names.get(label, label)


@runtime_checkable
class Diarizer(Protocol):
    """What a diarization backend does: turns (and names) for speech in 16 kHz audio."""

    def diarize(
        self,
        audio: np.ndarray,
        regions: Sequence[tuple[float, float]],
        options: SpeakerOptions,
    ) -> Diarization: ...


class EmbeddingDiarizer:
    """The default backend: voice windows from an encoder, clustered and smoothed."""

    def __init__(self, encoder: VoiceEncoder) -> None:
        self.encoder = encoder

    def voice_prints(self, options: SpeakerOptions) -> dict[str, np.ndarray]:
        """Each enrolled name's voice print, computed once per clip file (size and mtime)."""
        prints = {}
        for name, path in options.enroll.items():
            clip = Path(path)
            stat = clip.stat() if clip.is_file() else None
            key = (str(clip.resolve()), stat.st_size, stat.st_mtime_ns) if stat else None
            if key is None or key not in _VOICE_PRINTS:
                vector = voices.voice_print(self.encoder, clip, name)
                if key is not None:
                    _VOICE_PRINTS[key] = vector
                prints[name] = vector
            else:
                prints[name] = _VOICE_PRINTS[key]
        return prints

    def diarize(
        self,
        audio: np.ndarray,
        regions: Sequence[tuple[float, float]],
        options: SpeakerOptions,
    ) -> Diarization:
        # Enrolment clips are checked first: a bad clip fails before any real work.
        prints = self.voice_prints(options)
        windows = voices.embed_windows(self.encoder, audio, regions)
        if len(windows) == 0:
            raise BadInputError("The audio holds no speech, so there are no speakers to label.")
        count = None if options.speakers == "auto" else int(options.speakers)
        ids = speakers_cluster.cluster(
            windows.vectors, count, options.min_speakers, options.max_speakers
        )
        pieces = speakers_cluster.turns_from_windows(windows, ids, regions)
        order = list(dict.fromkeys(who for _, _, who in pieces))
        label = {who: f"SPEAKER_{i + 1}" for i, who in enumerate(order)}
        turns = tuple(SpeakerTurn(round(s, 3), round(e, 3), label[w]) for s, e, w in pieces)
        centres = speakers_cluster.centroids(windows.vectors, ids)
        names = _match_enrolled({label[w]: centres[w] for w in order}, prints)
        return Diarization(turns, names)


def _match_enrolled(
    clusters: Mapping[str, np.ndarray], prints: Mapping[str, np.ndarray]
) -> dict[str, str]:
    """Label -> enrolled name: the best one-to-one pairing, kept only where voices agree."""
    if not clusters or not prints:
        return {}
    from scipy.optimize import linear_sum_assignment

    labels, names = list(clusters), list(prints)
    sims = np.stack([clusters[k] for k in labels]) @ np.stack([prints[n] for n in names]).T
    rows, cols = linear_sum_assignment(-sims)
    return {
        labels[r]: names[c] for r, c in zip(rows, cols, strict=True) if sims[r, c] >= ENROL_MATCH
    }


_VOICE_PRINTS: dict[tuple[str, int, int], np.ndarray] = {}


def check_enrolment(options: SpeakerOptions, model: str | None = None) -> None:
    """Compute the enrolled voice prints now, raising :class:`BadInputError` for a bad clip.

    A folder run calls this once before its first file: otherwise one bad clip would fail
    every file in turn, each with the same error.
    """
    diarizer = get_diarizer(model)
    if options.enroll and isinstance(diarizer, EmbeddingDiarizer):
        diarizer.voice_prints(options)


def get_diarizer(model: str | None = None) -> Diarizer:
    """The diarizer for a ``voice`` model of the catalogue (default: the packaged encoder)."""
    loaded = catalog.load(model, "voice")
    return loaded if isinstance(loaded, Diarizer) else EmbeddingDiarizer(loaded)


def diarize(
    audio: np.ndarray | str | Path,
    options: SpeakerOptions | None = None,
    *,
    speech_regions: Sequence[tuple[float, float]] | None = None,
    model: str | None = None,
) -> Diarization:
    """Who spoke when in ``audio`` (a file, or 16 kHz mono float32 samples).

    ``speech_regions`` (seconds) lets a caller that already ran voice-activity detection, such
    as the transcriber, skip it here. Raises :class:`BadInputError` for audio with no speech
    and for bad enrolment clips.
    """
    from polymodal.media.audio import decode_audio

    options = options or SpeakerOptions()
    samples = decode_audio(audio if isinstance(audio, np.ndarray) else Path(audio))
    duration = len(samples) / voices.SAMPLE_RATE
    if speech_regions is None:
        regions = voices.detect_speech(samples)
    else:
        regions = voices.clean_regions(speech_regions, duration)
    if not regions:
        raise BadInputError("The audio holds no speech, so there are no speakers to label.")
    return get_diarizer(model).diarize(samples, regions, options)
