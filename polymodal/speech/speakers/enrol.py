"""Enrolment: voice prints of named clips, and naming the clusters they match.

Shared by both diarization backends (:mod:`.diarizer`'s window backend and :mod:`.segmented`),
whose cluster centres live in the same Resemblyzer space as the prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from polymodal.errors import BadInputError
from polymodal.speech.options import SpeakerOptions
from polymodal.speech.speakers import voices
from polymodal.speech.speakers.voices import VoiceEncoder

# An enrolled voice names a cluster when the cluster's mean window vector and the clip's agree
# at least this much. Measured on the test voices (espeak-ng, one sentence per clip): a clip and
# the cluster of its own voice agree at 0.94-0.96, a clip and another voice's cluster at
# 0.57-0.82. 0.88 sits between with room on both sides, so a merely similar voice stays
# anonymous rather than being given a wrong name.
ENROL_MATCH = 0.88

_VOICE_PRINTS: dict[tuple[int, str, int, int], np.ndarray] = {}


def no_speech() -> BadInputError:
    """The error for a recording with nothing to label (both backends raise the same one)."""
    return BadInputError("The audio holds no speech, so there are no speakers to label.")


def voice_prints(encoder: VoiceEncoder, options: SpeakerOptions) -> dict[str, np.ndarray]:
    """Each enrolled name's voice print, computed once per encoder and clip file (size and
    mtime); raises :class:`BadInputError` for a missing, unreadable or too short clip."""
    prints = {}
    for name, path in options.enroll.items():
        clip = Path(path)
        stat = clip.stat() if clip.is_file() else None
        key = (id(encoder), str(clip.resolve()), stat.st_size, stat.st_mtime_ns) if stat else None
        if key is None or key not in _VOICE_PRINTS:
            vector = voices.voice_print(encoder, clip, name)
            if key is not None:
                _VOICE_PRINTS[key] = vector
            prints[name] = vector
        else:
            prints[name] = _VOICE_PRINTS[key]
    return prints


def match_enrolled(
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
