"""The memory budget for resident models: ``POLYMODAL_MEMORY_MB`` or half the machine."""

from __future__ import annotations

import pytest

from polymodal import config
from polymodal.config import settings
from polymodal.errors import BadInputError


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", " 4096 ")
    assert settings().memory_mb == 4096.0
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "1500.5")
    assert settings().memory_mb == 1500.5


@pytest.mark.parametrize("value", ["lots", "0", "-5", "inf", "nan", "4 GB"])
def test_a_bad_budget_says_what_is_expected(monkeypatch, value):
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", value)
    with pytest.raises(BadInputError) as error:
        settings()
    message = str(error.value)
    assert "POLYMODAL_MEMORY_MB" in message and "megabytes" in message
    assert f"'{value}'" in message


def test_the_default_is_half_the_machine(monkeypatch):
    monkeypatch.delenv("POLYMODAL_MEMORY_MB", raising=False)
    physical = config._physical_memory_mb()
    assert physical and physical > 100
    assert 0 < settings().memory_mb <= physical / 2
    assert settings().memory_mb == config.default_memory_mb()


def test_a_container_limit_below_the_machine_wins(monkeypatch):
    monkeypatch.setattr(config, "_physical_memory_mb", lambda: 64_000.0)
    monkeypatch.setattr(config, "_cgroup_limit_mb", lambda: 8_000.0)
    assert config.default_memory_mb() == 4_000.0
    monkeypatch.setattr(config, "_cgroup_limit_mb", lambda: None)
    assert config.default_memory_mb() == 32_000.0
    monkeypatch.setattr(config, "_physical_memory_mb", lambda: None)
    assert config.default_memory_mb() == 8192.0
