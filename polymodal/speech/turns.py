"""Turn detection on a live stream: Silero's speech probability frame by frame, and where
speech starts and stops (server-VAD semantics, as OpenAI's realtime API defines them).

The same Silero model ``chunks`` uses for files (faster-whisper's), run incrementally: its
ONNX session takes the recurrent state in and out, so carrying that state (and each frame's
64 samples of context) across blocks gives exactly the probabilities of one pass over the
whole recording (checked to the last bit on a 19 s passage fed in 320 ms blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.media.audio import SAMPLE_RATE

FRAME = 512  # Silero's frame: 32 ms at 16 kHz
_CONTEXT = 64  # samples of the previous frame Silero reads before each frame
_HYSTERESIS = 0.15  # Silero's own: speech continues down to threshold - 0.15


class StreamingVad:
    """Speech probability per 32 ms frame of a stream fed in blocks of any size."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session
        self._state = [np.zeros((1, 1, 128), np.float32) for _ in range(2)]
        self._context = np.zeros(_CONTEXT, np.float32)
        self._rest = np.zeros(0, np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The probabilities of the frames this block completes (a remainder waits)."""
        audio = np.concatenate([self._rest, samples])
        count = audio.size // FRAME
        self._rest = audio[count * FRAME :]
        if count == 0:
            return np.zeros(0, np.float32)
        frames = audio[: count * FRAME].reshape(count, FRAME)
        before = np.concatenate([self._context[None], frames[:-1, -_CONTEXT:]])
        batch = np.concatenate([before, frames], axis=1)
        h, c = self._state
        out, h, c = self._session.run(None, {"input": batch, "h": h, "c": c})
        self._state = [h, c]
        self._context = frames[-1, -_CONTEXT:].copy()
        return np.asarray(out, np.float32).reshape(-1)


@dataclass(frozen=True)
class Turn:
    """A speech start or stop. ``at`` (samples into the stream) is when it became known;
    ``position`` where it happened: speech's first frame, or for a stop the end of the
    silence that ended it (OpenAI's ``audio_end_ms`` includes that silence)."""

    started: bool
    at: int
    position: int


class TurnDetector:
    """Starts and stops from frame probabilities, with Silero's hysteresis: speech starts
    after ``min_speech_ms`` at ``threshold`` or more, and stops after ``silence_ms`` of
    frames under ``threshold - 0.15`` (frames in between neither end nor extend a silence
    once it has begun; one at the threshold ends it)."""

    def __init__(self, threshold: float, silence_ms: int, min_speech_ms: int) -> None:
        self._on, self._off = threshold, max(threshold - _HYSTERESIS, 0.01)
        self._min_speech = max(1, round(min_speech_ms * SAMPLE_RATE / 1000 / FRAME))
        self._silence = max(1, round(silence_ms * SAMPLE_RATE / 1000 / FRAME))
        self.speaking = False
        self._frame = 0  # frames seen
        self._run = 0  # speech frames in a row (before a start) / silent frames (after)

    def reset(self) -> None:
        """Back to "not speaking" (after a commit or clear); speech still heard starts anew."""
        self.speaking, self._run = False, 0

    def __call__(self, probabilities: np.ndarray) -> list[Turn]:
        turns = []
        for p in probabilities:
            self._frame += 1
            if not self.speaking:
                self._run = self._run + 1 if p >= self._on else 0
                if self._run >= self._min_speech:
                    first = (self._frame - self._run) * FRAME
                    turns.append(Turn(True, self._frame * FRAME, first))
                    self.speaking, self._run = True, 0
                continue
            if p >= self._on:
                self._run = 0
            elif p < self._off or self._run:
                self._run += 1
            if self._run >= self._silence:
                turns.append(Turn(False, self._frame * FRAME, self._frame * FRAME))
                self.speaking, self._run = False, 0
        return turns
