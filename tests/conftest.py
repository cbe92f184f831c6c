"""Shared fixtures: offline mode for every test, and speech made with espeak-ng.

No test may reach a model hub: the environment is set before any library reads it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def speak(text: str, path: Path, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> Path:
    """Synthesise ``text`` with espeak-ng into a 16 kHz mono WAV at ``path``."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (run scripts/setup.sh)")
    raw = path.with_suffix(".raw.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(raw),
            "-ac",
            "1",
            "-ar",
            "16000",
            str(path),
        ],
        check=True,
    )
    raw.unlink()
    return path


@pytest.fixture(scope="session")
def speak_to():
    """The :func:`speak` helper as a fixture, for tests in any folder."""
    return speak
