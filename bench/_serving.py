"""A benchmark's server: Python code run in a subprocess that listens on 127.0.0.1, started,
waited for until its port answers, and stopped (shared by ``bench/server.py`` and
``bench/live.py``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(code: Callable[[int], str], deadline_s: float = 300.0) -> Iterator[tuple[int, int]]:
    """Run ``code(port)`` in a subprocess on a free port; yields ``(port, pid)`` once the
    port accepts connections (an error if the process exits first or ``deadline_s`` passes)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", code(port)])
    try:
        deadline = time.monotonic() + deadline_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)
