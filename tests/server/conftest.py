"""Server fixtures: tiny models (Whisper tiny.en, a tiny random CLIP), espeak-ng speech, a
TestClient app and a live uvicorn server on 127.0.0.1 for the official ``openai`` client.

Models are resident in the process through the catalogue, so the TestClient apps and the live
server share one load of each. ``POLYMODAL_HOME`` points at a folder of this package's own
(the tiny CLIP's prepared ONNX lands there) and is restored when the package's tests end.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from _server_helpers import API_KEY, AUDIO_LIMIT, SPOKEN, serving
from fastapi.testclient import TestClient

from polymodal.server import ServerSettings, create_app


@pytest.fixture(scope="package")
def server_home(tmp_path_factory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("server-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POLYMODAL_HOME", str(home))
        patch.delenv("POLYMODAL_INT8", raising=False)
        yield home


@pytest.fixture(scope="package")
def clip_dir(tmp_path_factory, server_home) -> Path:
    """A tiny random-weight CLIP checkpoint (24-d embeddings), the server's CLIP model."""
    from polymodal.vision.synthetic import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("server-clip"), tiny=True, seed=0)


@pytest.fixture(scope="package")
def speech_wav(tmp_path_factory, speak_to) -> Path:
    return speak_to(SPOKEN, tmp_path_factory.mktemp("server-speech") / "fox.wav")


@pytest.fixture(scope="package")
def silence_wav(tmp_path_factory) -> Path:
    """Two seconds of digital silence: readable audio with no speech."""
    path = tmp_path_factory.mktemp("server-silence") / "silence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 32000)
    return path


@pytest.fixture(scope="package")
def server_settings(server_home) -> ServerSettings:
    """Whisper tiny.en behind OpenAI's names; CLIP left at the library's default."""
    return ServerSettings(whisper_model="whisper-tiny.en", max_audio_bytes=AUDIO_LIMIT)


@pytest.fixture(scope="package")
def clip_settings(server_settings, clip_dir) -> ServerSettings:
    """The same, with the tiny CLIP behind OpenAI's embedding names."""
    return replace(server_settings, clip_model=str(clip_dir))


@pytest.fixture(scope="module")
def client(server_settings) -> Iterator[TestClient]:
    """The app without an API key, through FastAPI's TestClient (speech and models)."""
    with TestClient(create_app(server_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def clip_client(clip_settings) -> Iterator[TestClient]:
    """The app with the tiny CLIP configured, for the embedding routes."""
    with TestClient(create_app(clip_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="package")
def live_server(clip_settings) -> Iterator[str]:
    """The tiny models behind an API key on a live server, for the official client."""
    with serving(create_app(replace(clip_settings, api_key=API_KEY))) as url:
        yield url


#: About 67 s of speech, more than one Whisper window: long enough that a stream shows text
#: before the end, and that stopping it early is seen.
LONG_PASSAGE = (
    "Good morning everyone, thank you for joining the weekly planning meeting today. "
    "The first item on the agenda is the budget for the new warehouse in the north. "
    "I looked at the numbers yesterday and the costs are higher than we expected. "
    "Shipping prices went up again last month, mostly because of the fuel surcharge. "
    "Could we move some of the orders to the rail service instead of the trucks? "
    "That might work for the heavy items, but the small parcels still need the vans. "
    "Let us ask the logistics team to prepare a comparison before next Tuesday. "
    "I will send them an email after this call and copy everyone on the thread. "
    "The second item is hiring; we still have two open positions in the support team. "
    "We interviewed four people last week and two of them were very strong candidates. "
    "Please share the notes from those interviews so that we can decide on Friday. "
    "The last thing is the holiday schedule, which needs to be ready by the end of the month. "
    "Remember that the office will be closed on the first Monday of next month. "
    "If anyone needs extra equipment for working from home, tell me before Thursday."
)


@pytest.fixture(scope="package")
def long_speech_wav(tmp_path_factory, speak_to) -> Path:
    """:data:`LONG_PASSAGE` spoken by espeak-ng: about 67 s, more than one Whisper window, as
    a 32 kbit/s MP3 (270 kB) that fits under the test servers' upload limit."""
    import subprocess

    folder = tmp_path_factory.mktemp("server-long")
    wav = speak_to(LONG_PASSAGE, folder / "meeting.wav")
    mp3 = folder / "meeting.mp3"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "32k", str(mp3)]
    subprocess.run(command, check=True)
    return mp3
