"""The loudness leveller: quiet speech lifted to where VAD and Whisper hear it, smoothly, in
bounded memory; silence and noise are not turned into speech."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.media.audio import LEVEL_MAX_GAIN_DB, LEVEL_TARGET_DBFS, level_blocks

RATE = 16000


def _levelled(audio: np.ndarray, parts: int = 1) -> np.ndarray:
    cuts = np.array_split(audio, parts) if parts > 1 else [audio]
    return np.concatenate(list(level_blocks(cuts)))


def _dbfs(audio: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def _tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _voice(seconds: float, amplitude: float) -> np.ndarray:
    """A tone rising and falling four times a second, as syllables do (frame levels spread
    about 16 dB), so the leveller treats it as speech rather than a steady sound."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.abs(np.sin(2 * np.pi * 2 * t)) ** 2
    return (_tone(seconds, amplitude) * envelope).astype(np.float32)


def test_a_quiet_voice_beside_a_loud_one_is_lifted_to_the_target():
    audio = np.concatenate([_voice(10, 0.5), _voice(10, 0.002), _voice(10, 0.5)])
    out = _levelled(audio)
    assert out.size == audio.size and out.dtype == np.float32
    quiet, loud = out[12 * RATE : 18 * RATE], out[22 * RATE : 28 * RATE]
    assert _dbfs(audio[12 * RATE : 18 * RATE]) < -56  # 50 dB under the loud parts
    assert _dbfs(quiet) == pytest.approx(LEVEL_TARGET_DBFS, abs=1.0)
    assert _dbfs(loud) == pytest.approx(LEVEL_TARGET_DBFS, abs=1.0)  # loud is turned down


def test_streaming_in_any_blocks_gives_the_same_samples():
    rng = np.random.default_rng(1)
    envelope = np.repeat(rng.uniform(0.001, 0.3, 40), RATE)[: 37 * RATE + 123]
    audio = (rng.normal(size=envelope.size) * envelope).astype(np.float32)
    whole = _levelled(audio)
    for parts in (2, 7, 50):
        assert np.array_equal(_levelled(audio, parts), whole), parts


def test_gain_is_capped_and_digital_silence_stays_silent():
    silence = np.zeros(5 * RATE, dtype=np.float32)
    assert not _levelled(silence).any()
    faint = _voice(6, 1e-5)  # about -107 dBFS: 40 dB of gain leaves it far under the target
    out = _levelled(faint)
    lifted = out[1 * RATE : 5 * RATE]
    faint = faint[1 * RATE : 5 * RATE]
    assert _dbfs(lifted) == pytest.approx(_dbfs(faint) + LEVEL_MAX_GAIN_DB, abs=0.5)


def test_a_steady_sound_is_not_lifted():
    """A hum, hiss or room tone stays at its level, quiet as it is (lifted to the target, quiet
    pink noise became "speech" to Silero); the same level rising and falling like a voice is
    lifted."""
    steady = _tone(8, 0.003)  # -53 dBFS
    assert _dbfs(_levelled(steady)) == pytest.approx(_dbfs(steady), abs=0.5)
    voice = _voice(8, 0.003)
    assert _dbfs(_levelled(voice)[RATE:-RATE]) == pytest.approx(LEVEL_TARGET_DBFS, abs=1.5)


def test_gain_changes_smoothly_without_clicks():
    """A step from quiet to loud: the gain glides between seconds (under 0.1 dB from one sample
    to the next), so the output never jumps by more than twice its settled tone's step."""
    audio = np.concatenate([_tone(5, 0.01), _tone(5, 0.3)])
    out = _levelled(audio)
    gain = np.abs(out) / np.maximum(np.abs(audio), 1e-9)
    steady = np.abs(audio) > 0.005
    ratios = gain[1:][steady[1:] & steady[:-1]] / gain[:-1][steady[1:] & steady[:-1]]
    assert np.max(np.abs(np.log(ratios))) < 0.01  # under 0.1 dB from one sample to the next
    assert np.max(np.abs(np.diff(out))) <= 2 * np.max(np.abs(np.diff(out[8 * RATE :])))


def test_pink_noise_stays_empty_after_levelling():
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    rng = np.random.default_rng(0)
    n = 30 * RATE
    freqs = np.fft.rfftfreq(n)
    spectrum = rng.normal(size=freqs.size) + 1j * rng.normal(size=freqs.size)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    for peak in (0.001, 0.05, 0.5):
        noise = (pink / np.abs(pink).max() * peak).astype(np.float32)
        out = _levelled(noise)
        assert not get_speech_timestamps(
            out, VadOptions(threshold=0.15, neg_threshold=0.1, min_speech_duration_ms=250)
        )
