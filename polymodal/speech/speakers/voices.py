"""Voices: where speech is, and what each stretch of it sounds like (speaker embeddings).

The diarizer's first stages. Speech regions come from the caller (transcription's Silero
voice-activity detection, for recordings); WebRTC's VAD here finds the speech of enrolment clips
(short, close-talk recordings it hears well). Each region is cut into overlapping windows of 1.6 s
(the length Resemblyzer's encoder was trained on) and every window becomes a 256-d unit vector.
The mel spectrogram is computed once per block of audio (minutes long) and the windows go
through the LSTM in batches, so embedding costs a small fraction of transcription time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.catalog import ResolvedModel
from polymodal.config import settings
from polymodal.errors import BadInputError, require
from polymodal.media.audio import SAMPLE_RATE, decode_audio
from polymodal.vectors import unit_rows

HOP = 160  # mel hop in samples: 10 ms frames, as the encoder was trained
FRAMES_PER_SECOND = SAMPLE_RATE // HOP
WINDOW_FRAMES = 160  # 1.6 s windows: the encoder's training length
STEP_FRAMES = 33  # 3 windows a second: 0.33 s resolution, a quarter less work than 4
MIN_REGION = 0.3  # seconds; shorter bursts are clicks or breaths, not speech to embed
MIN_ENROL_SPEECH = 2.0  # seconds of speech an enrolment clip must hold
_TARGET_DBFS = -30.0  # Resemblyzer's training loudness


@dataclass(frozen=True)
class Windows:
    """Embedded windows: ``spans[i]`` is (start, end) in seconds, ``vectors[i]`` a unit vector."""

    spans: np.ndarray  # (n, 2) float
    vectors: np.ndarray  # (n, 256) float32

    def __len__(self) -> int:
        return len(self.spans)

    @classmethod
    def join(cls, parts: Sequence[Windows], dimension: int = 256) -> Windows:
        """The windows of consecutive stretches of one recording, in order."""
        if not parts:
            return cls(np.zeros((0, 2)), np.zeros((0, dimension), np.float32))
        spans = np.concatenate([p.spans for p in parts]).reshape(-1, 2)
        return cls(spans, np.concatenate([p.vectors for p in parts]).astype(np.float32))


class VoiceEncoder:
    """Resemblyzer's LSTM voice encoder, fed batches of mel windows."""

    def __init__(self, model: Any, device: str = "cpu") -> None:
        self.model = model
        self.device = device

    @property
    def dimension(self) -> int:
        return int(self.model.linear.out_features)

    def embed_mels(self, mels: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Unit embeddings of a stack of (frames, 40) mel windows, computed in batches.

        Threads: ``POLYMODAL_THREADS`` when set, else half of torch's. The LSTM synchronises
        its threads at each of its 480 time steps; measured on 2 busy shared cores, 2 threads
        took 6-24 s for 200 windows and 1 thread 2-3 s (idle: 0.7 s against 1.2 s), so leaving
        cores free bounds the worst case at a small cost in the best.
        """
        import torch

        out = []
        previous = torch.get_num_threads()
        torch.set_num_threads(settings().threads or max(1, previous // 2))
        try:
            with torch.inference_mode():
                for start in range(0, len(mels), batch_size):
                    batch = np.ascontiguousarray(mels[start : start + batch_size])
                    out.append(self.model(torch.from_numpy(batch).to(self.device)).cpu().numpy())
        finally:
            torch.set_num_threads(previous)
        if not out:
            return np.zeros((0, self.dimension), np.float32)
        return np.concatenate(out).astype(np.float32)


def load_voice_encoder(resolved: ResolvedModel, *, device: str = "cpu") -> VoiceEncoder:
    """Catalogue loader for the ``voice`` family: the encoder whose weights ship in the wheel."""
    with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        require("resemblyzer", "speakers")
        from resemblyzer import VoiceEncoder as Resemblyzer
    model = Resemblyzer(device=device, verbose=False, weights_fpath=resolved.path)
    model.eval()
    return VoiceEncoder(model, device)


def _webrtcvad() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return require("webrtcvad", "speakers")


def detect_speech(audio: np.ndarray, *, merge_gap: float = 0.25) -> list[tuple[float, float]]:
    """Speech regions (seconds) found by WebRTC's VAD, smoothed as Resemblyzer does.

    30 ms frames are flagged, averaged over 8 frames to drop single-frame blips, then regions
    closer than ``merge_gap`` are joined, so a breath inside a sentence does not split it.
    """
    vad = _webrtcvad().Vad(3)
    frame = SAMPLE_RATE * 30 // 1000
    n = len(audio) // frame
    if n == 0:
        return []
    pcm = (np.clip(audio[: n * frame], -1, 1) * 32767).astype("<i2").tobytes()
    flags = np.array(
        [vad.is_speech(pcm[i * frame * 2 : (i + 1) * frame * 2], SAMPLE_RATE) for i in range(n)],
        dtype=float,
    )
    voiced = np.convolve(flags, np.ones(8) / 8, mode="same") >= 0.5
    regions: list[tuple[float, float]] = []
    for start, end in _runs(voiced):
        s, e = start * 0.03, end * 0.03
        if regions and s - regions[-1][1] <= merge_gap:
            regions[-1] = (regions[-1][0], e)
        else:
            regions.append((s, e))
    return [(s, e) for s, e in regions if e - s >= MIN_REGION]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def clean_regions(
    regions: Sequence[tuple[float, float]], duration: float
) -> list[tuple[float, float]]:
    """Sort, clip to the audio, merge overlaps and drop slivers from caller-given regions."""
    out: list[tuple[float, float]] = []
    for start, end in sorted((max(0.0, float(s)), min(duration, float(e))) for s, e in regions):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > start:
            out.append((start, end))
    return [(s, e) for s, e in out if e - s >= MIN_REGION]


def mel_spectrogram(audio: np.ndarray, regions: Sequence[tuple[float, float]]) -> np.ndarray:
    """The encoder's input features for the whole file, (frames, 40), loudness-normalised.

    Resemblyzer's features are linear (not log) mel power, so loudness matters: the audio is
    scaled so its speech sits at the training loudness, measured on speech only so long
    silences don't inflate the gain.
    """
    import librosa

    speech = np.concatenate(
        [audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in regions] or [audio]
    )
    rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))) or 1e-9
    gain = 10 ** (_TARGET_DBFS / 20) / rms
    mel = librosa.feature.melspectrogram(
        y=(audio * gain).astype(np.float32),
        sr=SAMPLE_RATE,
        n_fft=SAMPLE_RATE * 25 // 1000,
        hop_length=HOP,
        n_mels=40,
    )
    return mel.astype(np.float32).T


def _window_starts(first: int, last: int, step: int = STEP_FRAMES) -> list[int]:
    """Window start frames covering [first, last): every ``step``, the last one flush."""
    if last - first <= WINDOW_FRAMES:
        return [first]
    starts = list(range(first, last - WINDOW_FRAMES + 1, step))
    if starts[-1] != last - WINDOW_FRAMES:
        starts.append(last - WINDOW_FRAMES)
    return starts


def embed_windows(
    encoder: VoiceEncoder,
    audio: np.ndarray,
    regions: Sequence[tuple[float, float]],
    offset: float = 0.0,
    step: int = STEP_FRAMES,
) -> Windows:
    """Embed sliding windows over each speech region; windows never cross a region's edge.

    ``regions`` are seconds within ``audio``; the windows' spans are shifted by ``offset``
    (where ``audio`` starts in the recording, for a recording embedded block by block);
    ``step`` is the frames between window starts (3 windows a second unless told).
    A region shorter than a window is tiled to the window length: the encoder then hears only
    that voice instead of the silence or the other speaker around it.
    """
    features = getattr(encoder, "features", None)  # an encoder with its own input features
    mel = features(audio, regions) if features else mel_spectrogram(audio, regions)
    stacks, spans = [], []
    for start, end in regions:
        first = int(start * FRAMES_PER_SECOND)
        last = min(len(mel), int(np.ceil(end * FRAMES_PER_SECOND)))
        if last - first < 2:
            continue
        for s in _window_starts(first, last, step):
            piece = mel[s : min(last, s + WINDOW_FRAMES)]
            if len(piece) < WINDOW_FRAMES:
                piece = np.resize(piece, (WINDOW_FRAMES, piece.shape[1]))
            stacks.append(piece)
            spans.append((s / FRAMES_PER_SECOND, min(last, s + WINDOW_FRAMES) / FRAMES_PER_SECOND))
    empty = np.zeros((0, encoder.dimension), np.float32)
    vectors = encoder.embed_mels(np.stack(stacks)) if stacks else empty
    return Windows(np.array(spans, dtype=float).reshape(-1, 2) + offset, vectors)


def voice_print(encoder: VoiceEncoder, path: Path, name: str) -> np.ndarray:
    """The mean voice vector of an enrolment clip; refuses clips with too little speech."""
    if not path.is_file():
        raise BadInputError(f"Enrolment clip for '{name}' not found: {path}.", param="enroll")
    try:
        audio = decode_audio(path)
    except BadInputError as exc:
        raise BadInputError(
            f"Enrolment clip for '{name}' is not usable audio: {exc}", param="enroll"
        ) from exc
    regions = detect_speech(audio)
    speech = sum(e - s for s, e in regions)
    if speech < MIN_ENROL_SPEECH:
        raise BadInputError(
            f"Enrolment clip for '{name}' holds {speech:.1f} s of speech; "
            f"at least {MIN_ENROL_SPEECH:.0f} s is needed: {path}.",
            param="enroll",
        )
    windows = embed_windows(encoder, audio, regions)
    return unit_rows(windows.vectors.mean(axis=0))
