"""``Transcriber.transcribe_stream``: segments as their windows decode, then the very
transcript ``transcribe`` gives; a cancel token stops it between windows."""

from __future__ import annotations

import pytest

from polymodal import CancelledError, CancelToken
from polymodal.speech import Segment, Transcript


def test_segments_come_first_then_the_transcript_transcribe_returns(tiny, gap_wav, gap_result):
    from polymodal.speech import DecodeOptions

    items = list(tiny.transcribe_stream(gap_wav[0], DecodeOptions(word_timestamps=True)))
    *segments, transcript = items
    assert isinstance(transcript, Transcript) and segments
    assert all(isinstance(s, Segment) for s in segments)
    assert tuple(segments) == transcript.segments
    assert transcript == gap_result


def test_a_cancelled_stream_stops_with_cancelled_error(tiny, passage_wav):
    token = CancelToken()
    stream = tiny.transcribe_stream(passage_wav, cancel=token)
    first = next(stream)
    assert isinstance(first, Segment)
    token.cancel("the client disconnected")
    with pytest.raises(CancelledError, match="the client disconnected"):
        for item in stream:
            assert not isinstance(item, Transcript)
