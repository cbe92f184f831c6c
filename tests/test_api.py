"""The public API map and the CLI's error contract."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import polymodal
from polymodal.cli.app import guarded, to_jsonable
from polymodal.errors import BadInputError, ModelUnavailableError, TooLargeError


def test_every_public_name_resolves():
    missing = []
    for name in polymodal.__all__:
        try:
            getattr(polymodal, name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name}: {exc}")
    assert not missing, missing


def test_unknown_public_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        polymodal.nope  # noqa: B018


def test_errors_carry_exit_codes_and_http_statuses():
    assert BadInputError("x").exit_code == 2 and BadInputError("x").http_status == 400
    assert TooLargeError("x").http_status == 413 and isinstance(TooLargeError("x"), BadInputError)
    assert ModelUnavailableError("x").exit_code == 3


def test_guarded_prints_one_sentence_and_exits_with_the_error_code():
    app = typer.Typer()

    @app.command()
    @guarded
    def broken() -> None:
        raise BadInputError("File 'x.wav' is not audio.")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert "File 'x.wav' is not audio." in result.output
    assert "Traceback" not in result.output


def test_to_jsonable_handles_nested_dataclasses_and_paths(tmp_path):
    from polymodal.speech.results import Segment, Word

    segment = Segment(0, 0.0, 1.0, "hi", words=(Word(0.0, 0.5, "hi", 0.9),))
    data = to_jsonable({"segment": segment, "path": tmp_path})
    assert data["segment"]["words"][0]["text"] == "hi"
    assert data["path"] == str(tmp_path)
