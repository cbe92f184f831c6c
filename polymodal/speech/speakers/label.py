"""Putting speaker turns on a transcript: who said each word, and segments that never mix voices.

Whisper's segments follow sentences, not voices, so one segment can hold the end of one
speaker's turn and the start of the next. Each word goes to the speaker whose turn overlaps it
most (the nearest turn when none does, e.g. a word in a pause), and a segment is split where
its words change speaker. Segments without word timestamps are labelled whole.

``speaker`` on segments and words is the label ``SPEAKER_n`` (stable, like pyannote's and
WhisperX's); ``Transcript.speakers`` maps each label to its enrolled name, which renderers show
in its place (``polymodal.speech.formats.speaker_names``) and ``Segment.speaker_name`` carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from polymodal.speech.results import (
    Diarization,
    Segment,
    SpeakerSummary,
    SpeakerTurn,
    Transcript,
    Word,
)


def label_transcript(transcript: Transcript, diarization: Diarization) -> Transcript:
    """The transcript with a speaker on every segment and word, split where the voice changes.

    Segment ids stay sequential after splitting and count from 1, as in a transcript without
    speakers; ``speaker_name`` is the enrolled name where one matched, else the label;
    ``speakers`` summarises each speaker (label, enrolled name, speaking time, number of
    turns) in order of first appearance.
    """
    turns = sorted(diarization.turns, key=lambda t: (t.start, t.end))
    if not turns:
        return transcript
    finder = _TurnFinder(turns)
    pieces: list[Segment] = []
    for segment in transcript.segments:
        pieces += _split(segment, finder)
    segments = tuple(
        replace(s, id=i, speaker_name=diarization.display(s.speaker) if s.speaker else None)
        for i, s in enumerate(pieces, start=1)
    )
    return replace(
        transcript,
        segments=segments,
        speakers=_summaries(segments, diarization),
        speaker_turns=diarization.turns,
    )


class _TurnFinder:
    """Which turn's speaker an interval belongs to: most overlap, else the nearest turn."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.starts = np.array([t.start for t in turns])
        self.ends = np.array([t.end for t in turns])
        self.speakers = [t.speaker for t in turns]

    def speaker(self, start: float, end: float) -> str:
        overlap = np.minimum(self.ends, end) - np.maximum(self.starts, start)
        if overlap.max() > 0:
            totals: dict[str, float] = {}
            for i in np.flatnonzero(overlap > 0):
                totals[self.speakers[i]] = totals.get(self.speakers[i], 0.0) + overlap[i]
            return max(totals, key=totals.__getitem__)
        distance = np.maximum(self.starts - end, start - self.ends)
        return self.speakers[int(np.argmin(distance))]


def _split(segment: Segment, finder: _TurnFinder) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=finder.speaker(segment.start, segment.end))]
    words = [replace(w, speaker=finder.speaker(w.start, w.end)) for w in segment.words]
    groups: list[list[Word]] = []
    for word in words:
        if groups and groups[-1][-1].speaker == word.speaker:
            groups[-1].append(word)
        else:
            groups.append([word])
    if len(groups) == 1:
        return [replace(segment, words=tuple(words), speaker=words[0].speaker)]
    out = []
    for i, group in enumerate(groups):
        out.append(
            replace(
                segment,
                start=segment.start if i == 0 else group[0].start,
                end=segment.end if i == len(groups) - 1 else group[-1].end,
                text=_text(group, segment.text),
                words=tuple(group),
                speaker=group[0].speaker,
            )
        )
    return out


def _text(words: Sequence[Word], source: str) -> str:
    """A split piece's text from its words, keeping the segment's leading-space habit."""
    text = "".join(w.word for w in words).strip()
    return " " + text if source[:1].isspace() else text


def _summaries(segments: Sequence[Segment], diarization: Diarization) -> tuple[SpeakerSummary, ...]:
    """Per speaker: speaking time (sum of its segments) and turns (runs of its segments)."""
    time: dict[str, float] = {}
    turns: dict[str, int] = {}
    previous = None
    for segment in segments:
        who = segment.speaker
        if who is None:
            continue
        time[who] = time.get(who, 0.0) + max(0.0, segment.end - segment.start)
        if who != previous:
            turns[who] = turns.get(who, 0) + 1
        previous = who
    return tuple(
        SpeakerSummary(
            label=label,
            name=diarization.names.get(label),
            speaking_time=round(seconds, 3),
            turns=turns[label],
        )
        for label, seconds in time.items()
    )
