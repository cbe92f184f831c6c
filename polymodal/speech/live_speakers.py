"""Speaker labels for live items: who said each completed item, ``A``, ``B``, ... per session.

Offline diarization clusters every voice window of a recording once it has all of them
(:mod:`polymodal.speech.speakers.cluster`); a live session cannot wait, so each item is
labelled when it completes, online, and the label is never revised: the item's speech is
embedded with the speaker room's encoder (Resemblyzer's 1.6 s windows,
:func:`~polymodal.speech.speakers.voices.embed_windows`), its windows averaged into one voice
vector, and the vector joins the speaker whose running centroid it resembles most, or becomes
a new speaker when none resembles it at least :data:`SAME_SPEAKER`.

Only the item's own audio is heard: not the previous item's tail that the session carries in
front of it for Whisper's context (that is the other speaker, at a change of voice), and at
most :data:`MAX_ITEM_SECONDS` of it, so a session's memory stays bounded. The cost is one
encoder pass over the item's speech when it completes (a 3.6 s item: median 0.2 s, up to 1 s,
on 2 cores at load 10), on the session's thread before the item's completed event, which is
why labels are off unless asked for.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from polymodal import catalog
from polymodal.errors import BadInputError
from polymodal.media.audio import SAMPLE_RATE
from polymodal.speech.speakers import voices
from polymodal.vectors import unit_rows

#: An item joins the nearest speaker when their vectors agree at least this much (cosine).
#: Item vectors are means of an item's windows, so they compare like the cluster centroids of
#: :mod:`~polymodal.speech.speakers.cluster`, whose espeak-ng calibration put the centroid
#: merge threshold at 0.86 and the window cut at 0.70. Measured on item vectors (one sentence
#: of 2.5-5 s each): espeak-ng, one voice 0.83-0.98, distinct voices 0.54-0.77 (variants of
#: one voice, en-us+m3 and en-gb+m1, 0.80-0.90); LibriSpeech (``real-speech/en``, 7 readers),
#: one reader 0.76-0.95, two readers 0.41-0.73 (90th percentile 0.65). 0.86 would split three
#: of the four same-reader pairs, so real and synthetic voices meet at 0.78, between the
#: window cut and the centroid threshold. The offline rule moved on to a relative one
#: (cohesion) for far-field meeting audio; that needs a recording's clusters side by side,
#: which an online labeller never has. An item compared with a centroid (several items'
#: mean) scores higher than with one other item, so one speaker splits less than pairs show.
SAME_SPEAKER = 0.78
#: The encoder :data:`SAME_SPEAKER` was measured with: another encoder's cosines sit elsewhere,
#: so live labels name it rather than follow the catalogue's default ``voice`` model.
VOICE_MODEL = "resemblyzer"
MAX_ITEM_SECONDS = 30.0
MAX_SPEAKERS = len(string.ascii_uppercase)
"""Past ``Z`` a new voice takes the nearest existing label rather than a new one."""


class NoSpeakers:
    """The labeller of a session that did not ask for labels: hears nothing, labels nothing."""

    def start(self, audio: np.ndarray) -> None:
        """A new item begins with ``audio``."""

    def hear(self, audio: np.ndarray) -> None:
        """More of the current item's audio."""

    def finish(self) -> str | None:
        """The current item is complete: its speaker's label (``None``: no label)."""
        return None

    def label(self, audio: np.ndarray) -> str | None:
        """The label of one whole item's audio (a manual commit)."""
        return None


class LiveSpeakers(NoSpeakers):
    """Running speaker centroids for one session; items are labelled as they complete."""

    def __init__(self, encoder: voices.VoiceEncoder) -> None:
        self.encoder = encoder
        self._sums: list[np.ndarray] = []  # per speaker: the sum of its items' unit vectors
        self._parts: list[np.ndarray] = []
        self._held = 0

    def start(self, audio: np.ndarray) -> None:
        self._parts, self._held = [], 0
        self.hear(audio)

    def hear(self, audio: np.ndarray) -> None:
        room = round(MAX_ITEM_SECONDS * SAMPLE_RATE) - self._held
        if room > 0 and audio.size:
            self._parts.append(audio[:room].copy())
            self._held += min(room, audio.size)

    def finish(self) -> str | None:
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        self._parts, self._held = [], 0
        return self.label(audio)

    def label(self, audio: np.ndarray) -> str | None:
        vector = self.voice(audio)
        return None if vector is None else self.assign(vector)

    def voice(self, audio: np.ndarray) -> np.ndarray | None:
        """The unit voice vector of an item's speech (WebRTC's VAD picks the speech out of
        the padding and pauses; all of it when the VAD hears none), ``None`` for an item too
        short to embed."""
        audio = audio[: round(MAX_ITEM_SECONDS * SAMPLE_RATE)]
        duration = audio.size / SAMPLE_RATE
        if duration < voices.MIN_REGION:
            return None
        regions = voices.detect_speech(audio) or [(0.0, duration)]
        windows = voices.embed_windows(self.encoder, audio, regions)
        if len(windows) == 0:
            return None
        return unit_rows(windows.vectors.mean(axis=0))

    def assign(self, vector: np.ndarray) -> str:
        """The label of the speaker ``vector`` belongs to, which it then joins."""
        if self._sums:
            centroids = unit_rows(np.stack(self._sums))
            scores = centroids @ vector
            best = int(np.argmax(scores))
            if scores[best] >= SAME_SPEAKER or len(self._sums) >= MAX_SPEAKERS:
                self._sums[best] = self._sums[best] + vector
                return string.ascii_uppercase[best]
        self._sums.append(vector.astype(np.float64))
        return string.ascii_uppercase[len(self._sums) - 1]


def speaker_labeller(wanted: bool) -> NoSpeakers:
    """The labeller a session's options ask for; the voice encoder is loaded (once per
    process, through the catalogue) here, so a missing ``speakers`` extra fails when labels
    are asked for, with its sentence, not at the first item."""
    if not wanted:
        return NoSpeakers()
    encoder: Any = catalog.load(VOICE_MODEL, "voice")
    if not hasattr(encoder, "embed_mels"):
        raise BadInputError(
            f"Live speaker labels need the '{VOICE_MODEL}' voice encoder, which did not load "
            "as one.",
            param="speakers",
        )
    return LiveSpeakers(encoder)
