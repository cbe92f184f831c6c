"""SRT/WebVTT output: parsed by standard parsers, broadcast line rules, speaker rendering."""

from __future__ import annotations

import itertools
import json

import pytest
import srt
import webvtt

from polymodal.render import to_data
from polymodal.speech.formats import (
    render,
    render_srt,
    render_transcript,
    render_txt,
    render_vtt,
    without_suspect,
)
from polymodal.speech.results import (
    Segment,
    SpeakerSummary,
    Transcript,
    TranscriptionInfo,
    Word,
)
from polymodal.speech.subtitles import MAX_CHARS, layout_cues


def _check_cue_rules(cues, duration):
    """Times increase, never overlap, never vanish, stay in the audio; line rules hold."""
    assert cues
    for cue in cues:
        assert 0 <= cue.start < cue.end <= duration + 0.001
        assert 1 <= len(cue.lines) <= 2
        assert all(0 < len(line) <= MAX_CHARS for line in cue.lines)
    for a, b in itertools.pairwise(cues):
        assert a.end <= b.start


def _timed(words, start=0.0, step=0.4, speaker=None):
    out = []
    for i, text in enumerate(words):
        out.append(Word(start + i * step, start + i * step + step * 0.8, " " + text, 0.9, speaker))
    return tuple(out)


def _transcript(segments, speakers=(), duration=60.0):
    info = TranscriptionInfo("en", 0.99, duration, "whisper-base")
    return Transcript.of(info, tuple(segments), tuple(speakers))


@pytest.mark.slow
def test_srt_from_real_transcript_parses_and_keeps_rules(passage_result):
    text = render_srt(passage_result)
    subs = list(srt.parse(text))
    duration = passage_result.info.duration
    for sub in subs:
        start, end = sub.start.total_seconds(), sub.end.total_seconds()
        assert 0 <= start < end <= duration + 0.001
        lines = sub.content.split("\n")
        assert 1 <= len(lines) <= 2 and all(len(line) <= MAX_CHARS for line in lines)
    for a, b in itertools.pairwise(subs):
        assert a.end <= b.start
    joined = " ".join(s.content.replace("\n", " ") for s in subs).split()
    assert joined == passage_result.text.split(), "cues hold every word, in order"


@pytest.mark.slow
def test_vtt_from_real_transcript_parses_and_keeps_rules(passage_result):
    captions = webvtt.from_string(render_vtt(passage_result)).captions
    duration = passage_result.info.duration
    assert captions
    for caption in captions:
        assert 0 <= caption.start_in_seconds < caption.end_in_seconds <= duration + 0.001
        assert 1 <= len(caption.lines) <= 2
        assert all(len(line) <= MAX_CHARS for line in caption.lines)
    for a, b in itertools.pairwise(captions):
        assert a.end_in_seconds <= b.start_in_seconds


def test_long_segment_is_split_at_word_boundaries_by_word_times():
    words = ("the quick brown fox jumps over the lazy dog " * 8).split()
    timed = _timed(words, start=1.0)
    segment = Segment(1, timed[0].start, timed[-1].end, "".join(w.text for w in timed), timed)
    cues = layout_cues([segment], duration=40.0)
    _check_cue_rules(cues, 40.0)
    assert len(cues) > 3
    flat = " ".join(" ".join(c.lines) for c in cues).split()
    assert flat == words
    # each cue starts when its first word starts
    starts = {round(w.start, 3) for w in timed}
    assert all(round(c.start, 3) in starts for c in cues)


def test_overlapping_and_zero_length_input_is_repaired():
    segments = [
        Segment(1, 1.0, 1.0, "Zero length."),
        Segment(2, 0.9, 2.0, "Starts before the last one ends."),
        Segment(3, 1.95, 1.96, "Tiny."),
        Segment(4, 2.5, 9.9, "Runs past the end of the audio, which is only five seconds."),
    ]
    cues = layout_cues(segments, duration=5.0)
    _check_cue_rules(cues, 5.0)
    assert " ".join(" ".join(c.lines) for c in cues).startswith("Zero length.")


def test_overlong_word_is_cut_to_fit():
    url = "https://example.com/" + "a" * 90
    cues = layout_cues([Segment(1, 0.0, 3.0, url)], duration=3.0)
    _check_cue_rules(cues, 3.0)
    assert "".join("".join(c.lines) for c in cues) == url


def _said(name):
    """Speaker fields as labelling sets them: SPEAKER_1 is enrolled as Alice."""
    label = "SPEAKER_1" if name else "SPEAKER_2"
    return {"speaker": label, "speaker_name": name or label}


def _two_speakers():
    alice = _timed(["hello", "bob", "how", "are", "you", "today"], 0.0, speaker="SPEAKER_1")
    bob = _timed(["fine", "thanks", "and", "you"], 3.0, speaker="SPEAKER_2")
    alice2 = _timed(["very", "well"], 5.0, speaker="SPEAKER_1")
    segments = [
        Segment(1, 0.0, alice[-1].end, "Hello Bob, how are you today?", alice, **_said("Alice")),
        Segment(2, 3.0, bob[-1].end, "Fine, thanks, and you?", bob, **_said(None)),
        Segment(3, 5.0, alice2[-1].end, "Very well.", alice2, **_said("Alice")),
    ]
    speakers = (
        SpeakerSummary("SPEAKER_1", "Alice", 4.0, 2),
        SpeakerSummary("SPEAKER_2", None, 2.0, 1),
    )
    return _transcript(segments, speakers, duration=8.0)


def test_srt_labels_speakers_and_never_mixes_them():
    transcript = _two_speakers()
    subs = list(srt.parse(render_srt(transcript)))
    assert [s.content.split("]")[0] for s in subs] == ["[Alice", "[SPEAKER_2", "[Alice"]
    assert all(len(line) <= MAX_CHARS for s in subs for line in s.content.split("\n"))
    cues = layout_cues(transcript.segments, duration=8.0)
    assert [c.speaker for c in cues] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_1"]


def test_vtt_uses_voice_tags():
    captions = webvtt.from_string(render_vtt(_two_speakers())).captions
    assert [c.voice for c in captions] == ["Alice", "SPEAKER_2", "Alice"]
    assert captions[1].text.startswith("fine") or captions[1].text.startswith("Fine")


def test_txt_is_a_script_one_turn_a_paragraph():
    text = render_txt(_two_speakers())
    paragraphs = text.strip().split("\n\n")
    assert paragraphs[0].startswith("Alice: Hello Bob")
    assert paragraphs[1].startswith("SPEAKER_2: Fine")
    assert paragraphs[2] == "Alice: Very well."


def test_json_has_speaker_per_segment_and_word_and_a_summary():
    data = to_data(_two_speakers())
    assert data["segments"][0]["speaker"] == "SPEAKER_1"
    assert data["segments"][0]["speaker_name"] == "Alice"
    assert data["segments"][1]["words"][0]["speaker"] == "SPEAKER_2"
    assert data["speakers"][0] == {
        "label": "SPEAKER_1",
        "name": "Alice",
        "speaking_time": 4.0,
        "turns": 2,
    }


def test_plain_txt_without_speakers_is_one_segment_a_line():
    transcript = _transcript([Segment(1, 0, 1, " One."), Segment(2, 1, 2, " Two.")])
    assert render(transcript, "txt") == "One.\nTwo.\n"


def test_drop_suspect_removes_flagged_text_but_json_keeps_it():
    segments = [
        Segment(1, 0.0, 2.0, " Real words here."),
        Segment(2, 2.0, 3.0, " Thanks for watching!", suspect_reasons=("stock_phrase",)),
    ]
    transcript = _transcript(segments, duration=3.0)
    assert render_txt(without_suspect(transcript)) == "Real words here.\n"
    assert render_transcript(transcript, "txt", drop_suspect=True) == "Real words here.\n"
    assert "Thanks for watching" in render_transcript(transcript, "txt")
    kept = json.loads(render_transcript(transcript, "json", drop_suspect=True))
    assert kept == to_data(transcript) and len(kept["segments"]) == 2
    data = to_data(transcript)
    assert data["segments"][1]["suspect"] is True
    assert data["segments"][1]["suspect_reasons"] == ["stock_phrase"]
