"""Putting speakers on a transcript: split at the word where the voice changes, never mix."""

from __future__ import annotations

import pytest

from polymodal.speech.results import (
    Diarization,
    Segment,
    SpeakerTurn,
    Transcript,
    TranscriptionInfo,
    Word,
)
from polymodal.speech.speakers import label_transcript

INFO = TranscriptionInfo(language="en", language_probability=1.0, duration=20.0, model="test")


def words(*items: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(s, e, text, 0.9) for s, e, text in items)


@pytest.fixture
def transcript() -> Transcript:
    first = Segment(
        1,
        0.5,
        6.6,
        " Thanks, that is all from me. Hello there.",
        words(
            (0.5, 1.0, " Thanks,"),
            (1.0, 1.3, " that"),
            (1.3, 1.5, " is"),
            (1.5, 1.8, " all"),
            (1.8, 2.1, " from"),
            (2.1, 4.8, " me."),
            (5.2, 5.9, " Hello"),
            (5.9, 6.6, " there."),
        ),
        avg_logprob=-0.2,
    )
    second = Segment(
        2,
        7.0,
        9.0,
        " How are you?",
        words((7.0, 7.5, " How"), (7.5, 8.0, " are"), (8.0, 9.0, " you?")),
    )
    third = Segment(
        3, 10.0, 12.0, " Fine, thanks.", words((10.2, 11.0, " Fine,"), (11.0, 12.0, " thanks."))
    )
    return Transcript.of(INFO, (first, second, third))


@pytest.fixture
def diarization() -> Diarization:
    turns = (
        SpeakerTurn(0.4, 5.0, "SPEAKER_1"),
        SpeakerTurn(5.1, 9.2, "SPEAKER_2"),
        SpeakerTurn(10.1, 12.1, "SPEAKER_1"),
    )
    return Diarization(turns, {"SPEAKER_2": "Bob"})


def test_a_segment_is_split_where_the_speaker_changes(transcript, diarization):
    labelled = label_transcript(transcript, diarization)
    texts = [s.text for s in labelled.segments]
    assert texts == [
        " Thanks, that is all from me.",
        " Hello there.",
        " How are you?",
        " Fine, thanks.",
    ]
    assert [s.id for s in labelled.segments] == [1, 2, 3, 4]  # from 1, as without speakers
    assert [s.speaker for s in labelled.segments] == [
        "SPEAKER_1",
        "SPEAKER_2",
        "SPEAKER_2",
        "SPEAKER_1",
    ]
    first, second = labelled.segments[:2]
    assert (first.start, first.end) == (0.5, 4.8)
    assert (second.start, second.end) == (5.2, 6.6)
    assert second.avg_logprob == -0.2  # the split pieces keep the segment's quality signals


def test_segments_never_mix_speakers_and_words_are_kept(transcript, diarization):
    labelled = label_transcript(transcript, diarization)
    for segment in labelled.segments:
        assert {w.speaker for w in segment.words} == {segment.speaker}
        assert segment.start <= segment.words[0].start and segment.words[-1].end <= segment.end
    before = [w.text for s in transcript.segments for w in s.words]
    after = [w.text for s in labelled.segments for w in s.words]
    assert before == after
    assert labelled.text == transcript.text


def test_speaker_summary(transcript, diarization):
    summary = {s.label: s for s in label_transcript(transcript, diarization).speakers}
    assert list(summary) == ["SPEAKER_1", "SPEAKER_2"]
    assert summary["SPEAKER_1"].name is None and summary["SPEAKER_2"].name == "Bob"
    assert summary["SPEAKER_1"].turns == 2 and summary["SPEAKER_2"].turns == 1
    assert summary["SPEAKER_1"].speaking_time == pytest.approx(4.3 + 2.0)
    assert summary["SPEAKER_2"].speaking_time == pytest.approx(1.4 + 2.0)


def test_a_word_in_a_pause_goes_to_the_nearest_turn():
    segment = Segment(1, 9.3, 9.9, " Right.", words((9.3, 9.9, " Right.")))
    turns = (SpeakerTurn(0.0, 5.0, "SPEAKER_1"), SpeakerTurn(10.0, 12.0, "SPEAKER_2"))
    labelled = label_transcript(Transcript.of(INFO, (segment,)), Diarization(turns))
    assert labelled.segments[0].speaker == "SPEAKER_2"
    assert labelled.segments[0].words[0].speaker == "SPEAKER_2"


def test_segments_without_words_are_labelled_whole():
    segments = (Segment(1, 0.0, 4.0, " One."), Segment(2, 4.0, 10.0, " Two."))
    turns = (SpeakerTurn(0.0, 4.5, "SPEAKER_1"), SpeakerTurn(4.5, 10.0, "SPEAKER_2"))
    labelled = label_transcript(Transcript.of(INFO, segments), Diarization(turns))
    assert [s.speaker for s in labelled.segments] == ["SPEAKER_1", "SPEAKER_2"]
    assert len(labelled.segments) == 2


def test_no_turns_leaves_the_transcript_alone(transcript):
    assert label_transcript(transcript, Diarization(())) == transcript


def test_segment_ids_count_from_one_before_and_after_labelling(transcript, diarization):
    """A plain transcript numbers its segments from 1 (faster-whisper's numbering); labelling
    splits segments and numbers them again, and must number them from 1 as well."""
    assert [s.id for s in transcript.segments] == [1, 2, 3]
    labelled = label_transcript(transcript, diarization)
    assert labelled.segments[0].id == 1
    assert [s.id for s in labelled.segments] == list(range(1, len(labelled.segments) + 1))


def test_labelled_segments_carry_the_name_shown(transcript, diarization):
    labelled = label_transcript(transcript, diarization)
    names = [s.speaker_name for s in labelled.segments]
    assert names == ["SPEAKER_1", "Bob", "Bob", "SPEAKER_1"]
