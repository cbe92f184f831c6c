"""The public API map and the CLI's error contract."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

import polymodal
from polymodal.cli.app import FLAG_FOR_PARAM, error_line, guarded, print_json
from polymodal.errors import (
    BadInputError,
    BusyError,
    CancelledError,
    ModelUnavailableError,
    PolymodalError,
    TooLargeError,
)


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


def _run(error: PolymodalError) -> typer.testing.Result:
    app = typer.Typer()

    @app.command()
    @guarded
    def broken() -> None:
        raise error

    return CliRunner().invoke(app, [])


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (BadInputError("File 'x.wav' is not audio."), 2),
        (TooLargeError("The image is 900 megapixels, over the 178 megapixel limit."), 2),
        (ModelUnavailableError("Model 'whisper-small' is not available offline."), 3),
        (BusyError("Every worker is busy; try again in a moment."), 4),
        (CancelledError("The work was stopped: interrupted."), 130),
    ],
)
def test_guarded_prints_one_sentence_and_exits_with_the_error_code(error, exit_code):
    result = _run(error)
    assert result.exit_code == exit_code
    assert str(error) in result.output
    assert "Traceback" not in result.output


def test_an_error_naming_a_parameter_names_the_users_flag():
    result = _run(BadInputError("An enrolment needs a name and a clip.", param="enroll"))
    assert "An enrolment needs a name and a clip. (--enroll)" in result.output
    assert "word_timestamps" not in FLAG_FOR_PARAM  # the default spelling serves
    assert error_line(BadInputError("x.", param="word_timestamps")).endswith("(--word-timestamps)")
    assert error_line(BadInputError("No such file.")) == "No such file."


def test_server_facing_fields_differ_by_kind_of_failure():
    """The server maps errors by these fields; a client error must never look like a crash."""
    kinds = [BadInputError("x"), TooLargeError("x"), ModelUnavailableError("x"), BusyError("x")]
    statuses = [e.http_status for e in kinds]
    assert len(set(statuses)) == len(statuses)
    assert all(400 <= s < 600 for s in statuses) and PolymodalError("x").http_status == 500
    assert BadInputError("x", param="labels").param == "labels"


def test_print_json_goes_through_the_one_serialiser(capsys, tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Found:
        path: object
        score: float

    print_json([Found(tmp_path, 0.5)])
    assert json.loads(capsys.readouterr().out) == [{"path": str(tmp_path), "score": 0.5}]
