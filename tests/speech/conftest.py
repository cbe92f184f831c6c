"""Speech fixtures: real espeak-ng speech, made once per test session, transcribed once each.

Every transcription here is shared by the tests that read it, so the whole speech suite decodes
each clip a single time (whisper-base where the default model matters, tiny.en elsewhere).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from speech_clips import AFTER, BEFORE, PASSAGE, SHORT, SPANISH

from polymodal.speech import DecodeOptions, Transcriber


def _sox(*args: str) -> None:
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (run scripts/setup.sh)")
    subprocess.run(["sox", *args], check=True, capture_output=True)


def _pink_noise(out: Path, seconds: float) -> Path:
    """Quiet pink noise (16 kHz mono), the kind Whisper likes to invent words over."""
    _sox(
        "-n",
        "-r",
        "16000",
        "-c",
        "1",
        "-b",
        "16",
        str(out),
        "synth",
        f"{seconds}",
        "pinknoise",
        "vol",
        "0.05",
    )
    return out


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def passage_wav(clip_dir, speak_to) -> Path:
    return speak_to(PASSAGE, clip_dir / "passage.wav")


@pytest.fixture(scope="session")
def short_wav(clip_dir, speak_to) -> Path:
    return speak_to(SHORT, clip_dir / "short.wav")


@pytest.fixture(scope="session")
def spanish_wav(clip_dir, speak_to) -> Path:
    return speak_to(SPANISH, clip_dir / "spanish.wav", voice="es", speed=140)


@pytest.fixture(scope="session")
def gap_wav(clip_dir, speak_to) -> tuple[Path, float, float]:
    """Speech, 10 s of digital silence, speech; returns the path and the silent stretch."""
    first = speak_to(BEFORE, clip_dir / "before.wav")
    second = speak_to(AFTER, clip_dir / "after.wav")
    silence = clip_dir / "silence10.wav"
    _sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(silence), "trim", "0", "10")
    out = clip_dir / "gap.wav"
    _sox(str(first), str(silence), str(second), str(out))
    start = float(subprocess.run(["soxi", "-D", str(first)], capture_output=True, text=True).stdout)
    return out, start, start + 10.0


@pytest.fixture(scope="session")
def noisy_wav(clip_dir, short_wav) -> tuple[Path, float, float]:
    """The short passage with 5 s of pink noise before and after, and noise under it all."""
    padded = clip_dir / "padded.wav"
    _sox(str(short_wav), str(padded), "pad", "5", "5")
    length = float(
        subprocess.run(["soxi", "-D", str(padded)], capture_output=True, text=True).stdout
    )
    noise = _pink_noise(clip_dir / "noise.wav", length)
    out = clip_dir / "noisy.wav"
    _sox("-m", str(padded), str(noise), str(out))
    return out, 5.0, length - 5.0


@pytest.fixture(scope="session")
def noise_only_wav(clip_dir) -> Path:
    return _pink_noise(clip_dir / "noise_only.wav", 6)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def bad_files(clip_dir, speak_to) -> dict[str, Path]:
    """One file per kind of bad input, each of which must give its own clear error."""
    bad = clip_dir / "bad"
    bad.mkdir()
    (bad / "text.wav").write_text("this is not audio\n" * 50)
    (bad / "empty.wav").write_bytes(b"")
    speech = speak_to("A short clip to damage.", clip_dir / "to_damage.wav")
    _ffmpeg("-i", str(speech), str(bad / "whole.mp3"))
    data = (bad / "whole.mp3").read_bytes()
    noise = bytes((i * 7919 + 13) % 256 for i in range(len(data)))
    (bad / "corrupt.mp3").write_bytes(data[:400] + noise[400:])
    (bad / "whole.mp3").unlink()
    _ffmpeg("-i", str(speech), "-t", "0", str(bad / "zero.wav"))
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", str(bad / "silent_video.mp4"))
    empty_dir = clip_dir / "no_media"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("nothing to hear")
    return {
        "text": bad / "text.wav",
        "empty": bad / "empty.wav",
        "corrupt": bad / "corrupt.mp3",
        "zero": bad / "zero.wav",
        "video": bad / "silent_video.mp4",
        "missing": clip_dir / "missing.wav",
        "directory": empty_dir,
    }


@pytest.fixture(scope="session")
def base() -> Transcriber:
    return Transcriber("whisper-base")


@pytest.fixture(scope="session")
def tiny() -> Transcriber:
    return Transcriber("whisper-tiny.en")


@pytest.fixture(scope="session")
def passage_result(base, passage_wav):
    """The default model and settings, with word timestamps, on a 35 s English passage."""
    return base.transcribe(passage_wav, DecodeOptions(word_timestamps=True))


@pytest.fixture(scope="session")
def short_result(tiny, short_wav):
    return tiny.transcribe(short_wav)


@pytest.fixture(scope="session")
def gap_result(tiny, gap_wav):
    return tiny.transcribe(gap_wav[0], DecodeOptions(word_timestamps=True))


@pytest.fixture(scope="session")
def noisy_result(tiny, noisy_wav):
    return tiny.transcribe(noisy_wav[0], DecodeOptions(word_timestamps=True))


@pytest.fixture(scope="session")
def spanish_result(base, spanish_wav):
    return base.transcribe(spanish_wav)


@pytest.fixture(scope="session")
def translated_result(base, spanish_wav):
    return base.transcribe(spanish_wav, DecodeOptions(task="translate"))
