"""What the server tests share besides fixtures: the spoken sentence, the key, the upload
limit, a transcription request, and a live uvicorn server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

SPOKEN = "The quick brown fox jumps over the lazy dog. Then the dog went home to sleep."
API_KEY = "test-key-not-secret"
AUDIO_LIMIT = 400_000  # bytes: the speech clip (about 150 kB) fits, 500 kB does not


def transcribe(client: TestClient, path: Path, **fields: object):
    """POST ``path`` to the transcription route with ``fields`` (``model`` defaults)."""
    data = {"model": "whisper-1", **fields}
    with path.open("rb") as audio:
        return client.post(
            "/v1/audio/transcriptions", data=data, files={"file": ("clip.wav", audio)}
        )


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on a real uvicorn server, in a thread, on a free loopback port; yields its URL."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()
