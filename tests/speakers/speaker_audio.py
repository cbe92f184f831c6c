"""Made conversations: espeak-ng voices taking turns, with the true turn times recorded.

Shared by the speaker tests and ``bench/speakers.py`` (which puts this folder on the path).
Each turn is synthesised on its own, its leading and trailing silence trimmed, and the turns are
joined with short pauses, so the true start and end of every turn is known to the sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000

# Clearly different espeak-ng voices: (voice, speed, pitch).
VOICES: dict[str, tuple[str, int, int]] = {
    "low": ("en-us+m3", 160, 35),
    "high": ("en-gb+f4", 175, 75),
    "third": ("en-us+f2", 150, 50),
    "stranger": ("en-us+klatt2", 170, 45),
}

SENTENCES = [
    "Good morning everyone, thank you for joining the weekly planning meeting today.",
    "The first item on the agenda is the budget for the new warehouse in the north.",
    "I looked at the numbers yesterday and the costs are higher than we expected.",
    "Shipping prices went up again last month, mostly because of the fuel surcharge.",
    "Could we move some of the orders to the rail service instead of the trucks?",
    "That might work for the heavy items, but the small parcels still need the vans.",
    "Let us ask the logistics team to prepare a comparison before next Tuesday.",
    "I will send them an email after this call and copy everyone on the thread.",
    "The second item is hiring; we still have two open positions in the support team.",
    "We interviewed four people last week and two of them were very strong candidates.",
    "Please share the notes from those interviews so that we can decide on Friday.",
    "The last thing is the holiday schedule, which needs to be ready by the end of the month.",
    "Remember that the office will be closed on the first Monday of next month.",
    "If anyone needs extra equipment for working from home, tell me before Thursday.",
    "The customer survey came back and most people were happy with the delivery times.",
    "A few complained about the packaging, so we should look at greener materials.",
]


@dataclass(frozen=True)
class Conversation:
    audio: np.ndarray  # 16 kHz mono float32
    turns: tuple[tuple[float, float, str], ...]  # (start, end, voice key)
    path: Path

    @property
    def voices(self) -> set[str]:
        return {voice for _, _, voice in self.turns}


def _trim(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples[:0]


def synthesise(speak: Callable[..., Path], text: str, voice: str, path: Path) -> np.ndarray:
    """One utterance by a named voice, trimmed of leading and trailing silence."""
    from faster_whisper import decode_audio

    name, speed, pitch = VOICES[voice]
    speak(text, path, voice=name, speed=speed, pitch=pitch)
    return _trim(decode_audio(str(path), sampling_rate=SAMPLE_RATE))


def build(
    speak: Callable[..., Path],
    script: Sequence[tuple[str, int]],
    folder: Path,
    *,
    pause: float = 0.4,
    name: str = "conversation",
) -> Conversation:
    """Join turns ``(voice, number of sentences)`` into one WAV, sentences taken in order."""
    import wave

    folder.mkdir(parents=True, exist_ok=True)
    gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = [gap]
    turns = []
    cursor = len(gap)
    sentence = 0
    for index, (voice, count) in enumerate(script):
        text = " ".join(SENTENCES[(sentence + k) % len(SENTENCES)] for k in range(count))
        sentence += count
        samples = synthesise(speak, text, voice, folder / f"{name}_{index}.wav")
        turns.append((cursor / SAMPLE_RATE, (cursor + len(samples)) / SAMPLE_RATE, voice))
        pieces += [samples, gap]
        cursor += len(samples) + len(gap)
    audio = np.concatenate(pieces).astype(np.float32)
    path = folder / f"{name}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return Conversation(audio, tuple(turns), path)


def attribution_share(
    truth: Sequence[tuple[float, float, str]],
    found: Sequence[tuple[float, float, str]],
    step: float = 0.01,
) -> float:
    """Share of true speech time given to the right speaker under the best label mapping.

    Time is sampled every ``step`` seconds; the mapping from found labels to true voices is the
    one that maximises agreement (Hungarian assignment), so label names don't matter. Speech
    the diarizer left unlabelled counts as wrong.
    """
    from scipy.optimize import linear_sum_assignment

    end = max(e for _, e, _ in truth)
    times = np.arange(0, end, step)
    true_keys = sorted({v for _, _, v in truth})
    found_keys = sorted({v for _, _, v in found})
    overlap = np.zeros((len(true_keys), max(1, len(found_keys))))
    total = 0
    for s, e, v in truth:
        inside = times[(times >= s) & (times < e)]
        total += len(inside)
        for fs, fe, fv in found:
            hit = np.count_nonzero((inside >= fs) & (inside < fe))
            overlap[true_keys.index(v), found_keys.index(fv)] += hit
    rows, cols = linear_sum_assignment(-overlap)
    return float(overlap[rows, cols].sum() / total) if total else 0.0


def as_tuples(diarization) -> list[tuple[float, float, str]]:
    """A diarization's turns as (start, end, speaker) for :func:`attribution_share`."""
    return [(t.start, t.end, t.speaker) for t in diarization.turns]
