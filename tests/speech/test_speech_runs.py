"""Runs over many files with a stand-in transcriber: folders, cancellation, typed options.

The library takes a loaded model object wherever it takes a model name, so these tests pass a
fake one and run in milliseconds; the real model's part is tested in the slow tests.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import fields

import pytest

import polymodal
from polymodal.errors import BadInputError, CancelledError
from polymodal.progress import CancelToken
from polymodal.speech import (
    DecodeOptions,
    Segment,
    Transcript,
    TranscriptionInfo,
    transcribe_files,
    transcribe_folder,
    write_transcripts,
)


def _transcript(path, options) -> Transcript:
    info = TranscriptionInfo("en", 0.9, 2.0, "fake", options.task, str(path))
    return Transcript.of(info, (Segment(1, 0.0, 2.0, f" Words of {path.stem}."),))


class FakeTranscriber:
    """Stands in for :class:`polymodal.speech.Transcriber`: text from the file name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, DecodeOptions]] = []

    def transcribe(self, audio, options=None, *, speakers=None, progress=None, cancel=None):
        options = options or DecodeOptions()
        self.calls.append((str(audio), options))
        if "broken" in str(audio):
            raise BadInputError(f"{audio} is not an audio or video file ffmpeg can read.")
        return _transcript(audio, options)

    def transcribe_many(self, sources, options=None, *, speakers=None, progress=None, cancel=None):
        for index, source in enumerate(sources):
            try:
                yield index, self.transcribe(source, options)
            except BadInputError as exc:
                yield index, exc


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.wav", "b.wav", "sub/c.mp3", "broken.wav"):
        (folder / name).write_bytes(b"not really audio")
    (folder / "notes.txt").write_text("not media")
    (folder / ".hidden.wav").write_bytes(b"skipped by the walker")
    return folder


def test_folder_run_uses_the_model_object_given_and_writes_every_format(inputs, tmp_path):
    fake = FakeTranscriber()
    out = tmp_path / "out"
    report = transcribe_folder(inputs, out, "all", model=fake, language="en", beam_size=2)
    assert (report.written, report.skipped, report.failed) == (3, 0, 1)
    assert {options for _, options in fake.calls} == {DecodeOptions(language="en", beam_size=2)}
    data = json.loads((out / "sub" / "c.json").read_text())
    assert data["text"] == "Words of c." and data["segments"][0]["id"] == 1
    assert (out / "a.srt").read_text().startswith("1\n00:00:00,000 --> ")
    assert not list(out.rglob(".*")), "no temporary files left behind"
    shown = polymodal.render.to_data(report)
    assert shown["written"] == 3 and shown["files"][0]["status"] in ("written", "failed")


def test_a_cancelled_folder_run_keeps_the_files_it_finished(inputs, tmp_path):
    token = CancelToken()
    out = tmp_path / "out"

    def cancel_after_first(report):
        assert (report.stage, report.unit) == ("transcribe", "files")
        if report.done >= 1:
            token.cancel("interrupted")

    with pytest.raises(CancelledError):
        write_transcripts(
            inputs,
            out,
            formats=["txt", "json"],
            model=FakeTranscriber(),
            progress=cancel_after_first,
            cancel=token,
        )
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.json", "a.txt"], "the finished file stays, nothing else is written"
    again = write_transcripts(inputs, out, formats=["txt", "json"], model=FakeTranscriber())
    assert [f.status for f in again.files][:2] == ["skipped", "written"], "the run resumes"


def test_transcribe_files_reports_each_failure_among_many_and_raises_a_single_one(inputs):
    fake = FakeTranscriber()
    results = list(transcribe_files(inputs, DecodeOptions(task="translate"), model=fake))
    assert [p.name for p, _ in results] == ["a.wav", "b.wav", "broken.wav", "c.mp3"]
    assert isinstance(results[2][1], BadInputError)
    assert results[0][1].task == "translate"
    with pytest.raises(BadInputError, match="not an audio or video file"):
        list(transcribe_files(inputs / "broken.wav", model=fake))


def test_missing_inputs_fail_before_any_model_is_loaded(tmp_path):
    with pytest.raises(BadInputError, match="no such file or folder") as caught:
        write_transcripts(tmp_path / "nope", tmp_path / "out", model="no-such-model")
    assert caught.value.param == "inputs"
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="contains no audio or video files"):
        list(transcribe_files(tmp_path / "empty", model="no-such-model"))


def test_python_api_passes_a_model_object_and_typed_options_through(tmp_path):
    fake = FakeTranscriber()
    clip = tmp_path / "clip.wav"
    transcript = polymodal.transcribe(clip, model=fake, word_timestamps=True, vad=False)
    assert transcript.source == str(clip)
    assert fake.calls == [(str(clip), DecodeOptions(word_timestamps=True, vad=False))]


@pytest.mark.parametrize("function", [polymodal.transcribe, polymodal.transcribe_folder])
def test_convenience_keywords_are_the_decode_options_with_the_same_defaults(function):
    """The keyword doors and DecodeOptions must not drift apart: same names, same defaults."""
    parameters = inspect.signature(function).parameters
    for option in fields(DecodeOptions):
        assert option.name in parameters, option.name
        assert parameters[option.name].default == option.default, option.name
        assert parameters[option.name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: DecodeOptions(task="summarise"), "task"),
        (lambda: DecodeOptions(beam_size=0), "beam_size"),
        (lambda: DecodeOptions(batch_size=-1), "batch_size"),
        (lambda: polymodal.SpeakerOptions.parse("many"), "speakers"),
        (lambda: polymodal.SpeakerOptions(max_speakers=0), "max_speakers"),
        (lambda: polymodal.SpeakerOptions.parse("auto", enroll=["Alice"]), "enroll"),
        (lambda: polymodal.SpeakerOptions.parse("auto", enroll=["A=/no/clip.wav"]), "enroll"),
        (lambda: polymodal.output_formats("docx"), "formats"),
    ],
)
def test_option_errors_name_the_parameter_and_never_a_flag(build, param):
    with pytest.raises(BadInputError) as caught:
        build()
    assert caught.value.param == param
    assert "--" not in str(caught.value)
