"""Fixtures for the catalogue: a fresh polymodal home, and a fake model family.

The fake family is registered the documented way (``LOADERS[family] = function``), so the
resident cache is tested through ``load()`` exactly as the real families use it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from polymodal import catalog


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@dataclass
class FakeModel:
    """What the fake loader returns; ``memory_mb`` is the loader's own memory figure."""

    path: Path
    memory_mb: float


@dataclass
class FakeFamily:
    """A loader that records its calls and can be slowed, held or made to fail per model."""

    name: str
    root: Path
    calls: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    barrier: threading.Barrier | None = None
    release: threading.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)
    fail_next: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def model_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def load(self, resolved: catalog.ResolvedModel, *, memory_mb: float = 100.0) -> FakeModel:
        with self.lock:
            self.calls.append(resolved.path.name)
            fail, self.fail_next = self.fail_next, False
        self.started.set()
        if self.barrier is not None:
            self.barrier.wait()
        if self.release is not None:
            assert self.release.wait(10), "the test never released the load"
        time.sleep(self.delay_s)
        if fail:
            raise RuntimeError("the fake weights are corrupt")
        return FakeModel(resolved.path, memory_mb)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    family = FakeFamily("fake", tmp_path / "models")
    monkeypatch.setitem(catalog.LOADERS, family.name, family.load)
    catalog.unload(family=family.name)
    yield family
    catalog.unload(family=family.name)
