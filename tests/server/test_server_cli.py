"""``polymodal serve``: the flags become the server's settings, and an exposed host without a
key never starts."""

from __future__ import annotations

from typer.testing import CliRunner

from polymodal.cli import _register, app

_register()


def _serve(monkeypatch, *args: str, env: dict[str, str] | None = None):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append((application, kw)))
    monkeypatch.delenv("POLYMODAL_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", *args], env=env)
    return result, calls


def test_an_exposed_host_without_a_key_is_refused_and_nothing_starts(monkeypatch):
    result, calls = _serve(monkeypatch, "--host", "0.0.0.0")
    assert result.exit_code == 2 and not calls
    assert "set an API key" in result.output and "Traceback" not in result.output


def test_loopback_starts_uvicorn_with_the_flags(monkeypatch):
    result, calls = _serve(monkeypatch, "--port", "8123", "--whisper-model", "whisper-tiny.en")
    assert result.exit_code == 0, result.output
    ((application, options),) = calls
    assert options["host"] == "127.0.0.1" and options["port"] == 8123
    settings = application.state.polymodal.settings
    assert settings.whisper_model == "whisper-tiny.en" and settings.api_key is None


def test_the_key_may_come_from_the_environment(monkeypatch):
    result, calls = _serve(
        monkeypatch, "--host", "0.0.0.0", "--max-upload-mb", "2", env={"POLYMODAL_API_KEY": "k"}
    )
    assert result.exit_code == 0, result.output
    settings = calls[0][0].state.polymodal.settings
    assert settings.api_key == "k" and settings.max_audio_bytes == 2 * 1024 * 1024
