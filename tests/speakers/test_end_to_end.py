"""Speakers through the whole path: ``polymodal transcribe --speakers`` and the Python API."""

from __future__ import annotations

import itertools
import json

import pytest
import srt
import webvtt
from typer.testing import CliRunner

import polymodal
from polymodal.cli import _register, app
from polymodal.speech import SpeakerOptions

pytestmark = pytest.mark.slow
_register()  # every command on the app, as the ``polymodal`` entry point does


def true_voice(turns, start: float, end: float) -> tuple[str, float]:
    """The true voice overlapping [start, end] most, and its share of the speech in the span
    (pauses don't count: Whisper often stretches a last word into the silence after it)."""

    def overlap(turn) -> float:
        return max(0.0, min(turn[1], end) - max(turn[0], start))

    best = max(turns, key=overlap)
    return best[2], overlap(best) / max(sum(overlap(t) for t in turns), 1e-6)


@pytest.fixture(scope="session")
def written(two_voices, tmp_path_factory):
    """All four formats of the two-voice conversation, written once by the CLI."""
    out = tmp_path_factory.mktemp("speaker_outputs")
    args = ["transcribe", str(two_voices.path), "--speakers", "auto", "--format", "all"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return {path.suffix.lstrip("."): path for path in out.iterdir() if path.is_file()}


def test_json_carries_speakers_on_segments_words_and_summary(written, two_voices):
    data = json.loads(written["json"].read_text())
    labels = {s["label"] for s in data["speakers"]}
    assert labels == {"SPEAKER_1", "SPEAKER_2"}
    for segment in data["segments"]:
        assert segment["speaker"] in labels
        assert {w["speaker"] for w in segment["words"]} == {segment["speaker"]}
    total = sum(s["speaking_time"] for s in data["speakers"])
    speech = sum(e - s for s, e, _ in two_voices.turns)
    assert 0.7 * speech <= total <= 1.1 * speech


def test_json_carries_the_diarizers_turns_over_all_heard_speech(written, two_voices):
    """Turns cover the speech the VAD heard, not only the recognised words."""
    data = json.loads(written["json"].read_text())
    turns = data["speaker_turns"]
    assert {t["speaker"] for t in turns} == {"SPEAKER_1", "SPEAKER_2"}
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(turns))
    covered = sum(t["end"] - t["start"] for t in turns)
    speech = sum(e - s for s, e, _ in two_voices.turns)
    assert 0.8 * speech <= covered <= 1.3 * speech


def test_srt_cues_carry_one_label_and_one_voice(written, two_voices):
    cues = list(srt.parse(written["srt"].read_text()))
    assert cues
    mapping: dict[str, set[str]] = {}
    for cue in cues:
        assert cue.content.startswith("[SPEAKER_")
        assert cue.content.count("[SPEAKER_") == 1  # a cue never holds two speakers
        label = cue.content[1 : cue.content.index("]")]
        voice, share = true_voice(
            two_voices.turns, cue.start.total_seconds(), cue.end.total_seconds()
        )
        assert share >= 0.8, cue
        mapping.setdefault(label, set()).add(voice)
    # Each label is one voice and each voice one label.
    assert all(len(voices) == 1 for voices in mapping.values())
    assert len(mapping) == 2


def test_vtt_uses_voice_tags(written):
    captions = webvtt.read(str(written["vtt"]))
    assert len(captions) > 0
    for caption in captions:
        assert caption.raw_text.startswith("<v SPEAKER_")
        assert caption.raw_text.count("<v ") == 1
        assert caption.text  # the tag does not swallow the words


def test_txt_is_a_script_of_turns(written, two_voices):
    paragraphs = [p for p in written["txt"].read_text().split("\n\n") if p.strip()]
    assert all(p.startswith(("SPEAKER_1:", "SPEAKER_2:")) for p in paragraphs)
    speakers = [p.split(":", 1)[0] for p in paragraphs]
    assert all(a != b for a, b in itertools.pairwise(speakers))
    assert len(paragraphs) == len(two_voices.turns)


def test_python_api_names_enrolled_voices(two_voices, enrol_clips):
    options = SpeakerOptions(enroll={"Alice": enrol_clips["low"]})
    transcript = polymodal.transcribe(two_voices.path, speakers=options)
    summary = {s.label: s.name for s in transcript.speakers}
    assert sorted(summary.values(), key=str) == ["Alice", None]
    alice = next(label for label, name in summary.items() if name == "Alice")
    for segment in transcript.segments:
        voice, _ = true_voice(two_voices.turns, segment.start, segment.end)
        assert (segment.speaker == alice) == (voice == "low"), segment


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--speakers", "0"], "positive whole number"),
        (["--speakers", "many"], "positive whole number"),
        (["--min-speakers", "3", "--max-speakers", "2"], "above the maximum"),
        (["--enroll", "Alice=/nonexistent/alice.wav"], "not found"),
        (["--enroll", "Alice"], "NAME=CLIP"),
    ],
)
def test_cli_bad_speaker_options(two_voices, flags, message):
    result = CliRunner().invoke(app, ["transcribe", str(two_voices.path), *flags])
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_too_short_enrolment_clip(two_voices, short_clip):
    flags = ["--enroll", f"Alice={short_clip}", "--format", "srt"]
    result = CliRunner().invoke(app, ["transcribe", str(two_voices.path), *flags])
    assert result.exit_code != 0
    assert "at least 2 s is needed" in result.output
    assert len(result.output.strip().splitlines()) == 1  # the sentence, no half-printed SRT


def test_folder_run_refuses_a_bad_enrolment_clip_once_before_any_file(
    two_voices, short_clip, tmp_path
):
    out = tmp_path / "out"
    flags = ["--enroll", f"Alice={short_clip}", "--out", str(out), "--format", "srt"]
    result = CliRunner().invoke(app, ["transcribe", str(two_voices.path), *flags])
    assert result.exit_code == 2
    assert "at least 2 s is needed" in result.output
    assert not list(out.glob("*.srt")), "nothing may be written when the enrolment is bad"


def test_speakers_share_the_transcribers_one_vad_pass_and_read_in_blocks(two_voices, monkeypatch):
    """With speakers, the file is read block by block (never whole) and Silero's VAD runs once
    per block for both the decoder and the diarizer; WebRTC's VAD is not run at all."""
    import faster_whisper.vad

    from polymodal.speech import transcriber
    from polymodal.speech.speakers import voices

    vad_calls, sizes = [], []
    silero = faster_whisper.vad.get_speech_timestamps
    original = transcriber.iter_audio_blocks

    def counting_vad(audio, *args, **kwargs):
        vad_calls.append(len(audio))
        return silero(audio, *args, **kwargs)

    def small_blocks(path, block_seconds=300.0):
        for block in original(path, block_seconds=10.0):
            sizes.append(block.size)
            yield block

    def no_webrtc(*args, **kwargs):
        raise AssertionError("a second VAD pass")

    monkeypatch.setattr(faster_whisper.vad, "get_speech_timestamps", counting_vad)
    monkeypatch.setattr(transcriber, "iter_audio_blocks", small_blocks)
    monkeypatch.setattr(voices, "detect_speech", no_webrtc)
    polymodal.transcribe(two_voices.path)
    plain_calls, plain_blocks = len(vad_calls), len(sizes)
    vad_calls.clear()
    sizes.clear()
    transcript = polymodal.transcribe(two_voices.path, speakers=SpeakerOptions())
    assert len(sizes) >= 3 and max(sizes) <= 10 * 16000
    # However many listens transcription's VAD takes per block, speakers add none.
    assert (len(vad_calls), len(sizes)) == (plain_calls, plain_blocks), "one VAD pass"
    assert {s.label for s in transcript.speakers} == {"SPEAKER_1", "SPEAKER_2"}
    assert all(s.speaker for s in transcript.segments)
    assert [s.id for s in transcript.segments] == list(range(1, len(transcript.segments) + 1))
