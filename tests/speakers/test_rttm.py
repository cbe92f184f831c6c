"""Turns as RTTM (read back with pyannote's own parser), and ``polymodal diarize``."""

from __future__ import annotations

import json

import pytest
from speaker_audio import as_tuples, attribution_share
from typer.testing import CliRunner

import polymodal
from polymodal.cli import _register, app
from polymodal.render import from_data, to_data
from polymodal.speech import Diarization, SpeakerTurn

_register()  # every command on the app, as the ``polymodal`` entry point does

TURNS = (
    SpeakerTurn(0.4, 5.25, "SPEAKER_1"),
    SpeakerTurn(5.8, 9.1, "SPEAKER_2"),
    SpeakerTurn(9.5, 12.0, "SPEAKER_1"),
)


def read_back(path, uri):
    from pyannote.database.util import load_rttm

    return load_rttm(str(path))[uri]


def test_rttm_round_trips_through_pyannotes_reader(tmp_path):
    diarization = Diarization(TURNS, names={"SPEAKER_2": "Ada Lovelace"})
    path = polymodal.write_rttm(diarization, tmp_path / "out" / "talk.rttm", "talk")
    lines = path.read_text().splitlines()
    assert lines[0] == "SPEAKER talk 1 0.400 4.850 <NA> <NA> SPEAKER_1 <NA> <NA>"
    found = sorted(
        (round(seg.start, 3), round(seg.end, 3), who)
        for seg, _, who in read_back(path, "talk").itertracks(yield_label=True)
    )
    shown = {"SPEAKER_1": "SPEAKER_1", "SPEAKER_2": "Ada_Lovelace"}
    assert found == [(t.start, t.end, shown[t.speaker]) for t in TURNS]
    assert [p.name for p in path.parent.iterdir()] == ["talk.rttm"]  # no temporary left


def test_rttm_is_replaced_whole(tmp_path):
    path = tmp_path / "talk.rttm"
    path.write_text("old contents\n" * 100)
    polymodal.write_rttm(Diarization(TURNS[:1]), path, "talk")
    assert path.read_text().count("\n") == 1


def test_file_id_is_the_recordings_name():
    assert polymodal.rttm_file_id("/data/meetings/trn01.wav") == "trn01"
    assert polymodal.rttm_file_id(None) == "audio"
    assert polymodal.to_rttm(Diarization(()), "x") == ""


def test_diarization_round_trips_through_render():
    diarization = Diarization(TURNS, names={"SPEAKER_2": "Bob"})
    data = to_data(diarization)
    assert data["labels"] == ["SPEAKER_1", "SPEAKER_2"]
    assert from_data(Diarization, data) == diarization


# --- the command -------------------------------------------------------------------------------


def test_cli_writes_rttm_that_scores_against_the_truth(two_voices, tmp_path):
    out = tmp_path / "two.rttm"
    result = CliRunner().invoke(app, ["diarize", str(two_voices.path), "--rttm", str(out)])
    assert result.exit_code == 0, result.output
    annotation = read_back(out, two_voices.path.stem)
    found = [(s.start, s.end, who) for s, _, who in annotation.itertracks(yield_label=True)]
    assert len({who for *_, who in found}) == 2
    assert attribution_share(two_voices.turns, found) >= 0.9


def test_cli_json_is_the_diarization(two_voices):
    result = CliRunner().invoke(app, ["diarize", str(two_voices.path), "--json", "--speakers", "2"])
    assert result.exit_code == 0, result.output
    diarization = from_data(Diarization, json.loads(result.stdout))
    assert diarization.labels == ("SPEAKER_1", "SPEAKER_2")
    assert attribution_share(two_voices.turns, as_tuples(diarization)) >= 0.9


def test_cli_table_names_enrolled_voices(two_voices, enrol_clips):
    args = ["diarize", str(two_voices.path), "--enroll", f"Alice={enrol_clips['low']}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Alice" in result.stdout and "SPEAKER_2" in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--speakers", "two"], "(--speakers)"),
        (["--min-speakers", "3", "--max-speakers", "2"], "is above"),
        (["--enroll", "Alice"], "(--enroll)"),
    ],
)
def test_cli_bad_options(two_voices, flags, message):
    result = CliRunner().invoke(app, ["diarize", str(two_voices.path), *flags])
    assert result.exit_code == 2  # bad input
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_missing_file(tmp_path):
    result = CliRunner().invoke(app, ["diarize", str(tmp_path / "nope.wav")])
    assert result.exit_code == 2  # bad input
    assert "no such file" in result.output
