"""``readable_transcript``: the segments txt, srt and vtt show, for renderers elsewhere (the
server's OpenAI shapes), so every reader drops the same ones."""

from __future__ import annotations

import polymodal
from polymodal.speech.results import Segment, Transcript


def _transcript() -> Transcript:
    segments = (
        Segment(1, 0.0, 1.0, " Hello there."),
        Segment(2, 1.0, 2.0, " la la la la", suspect_reasons=("loop",)),
        Segment(3, 2.0, 3.0, " Thank you.", suspect_reasons=("stock_phrase",)),
    )
    return Transcript(None, "whisper-tiny.en", "transcribe", "en", 1.0, 3.0, segments)


def test_loops_are_left_out_by_default_and_suspects_on_request():
    transcript = _transcript()
    assert [s.id for s in polymodal.readable_transcript(transcript).segments] == [1, 3]
    assert [s.id for s in polymodal.readable_transcript(transcript, True).segments] == [1]
    kept = polymodal.readable_transcript(transcript, keep_loops=True)
    assert kept.segments == transcript.segments


def test_text_renders_what_readable_keeps():
    transcript = _transcript()
    rendered = polymodal.render_transcript(transcript, "txt")
    assert rendered == "Hello there.\nThank you.\n"
    assert polymodal.readable_transcript(transcript).text == "Hello there. Thank you."
