"""Speech pieces and Whisper windows: 30 s at a time, moving on as far as decoding consumed."""

from __future__ import annotations

import numpy as np

from polymodal.speech.chunks import CHUNK_SECONDS, SourceDone, SourceWindows, speech_pieces

RATE = 16000


def test_pieces_cover_all_audio_without_vad():
    audio = np.zeros(RATE * 70, dtype=np.float32)
    items = list(speech_pieces([audio], vad=False))
    pieces = items[:-1]
    assert [round(c.duration) for c in pieces] == [30, 30, 10]
    assert [c.pieces[0][0] for c in pieces] == [0.0, 30.0, 60.0]
    assert isinstance(items[-1], SourceDone) and items[-1].duration == 70.0


def _windows(seconds: float) -> SourceWindows:
    audio = np.arange(int(seconds * RATE), dtype=np.float32) / RATE  # sample value = its time
    return SourceWindows(speech_pieces([audio], vad=False))


def test_next_window_starts_where_decoding_stopped():
    windows = _windows(70)
    first = windows.window()
    assert first.duration == CHUNK_SECONDS and first.pieces == ((0.0, 30.0),)
    windows.advance(26.5)  # Whisper's last complete segment ended at 26.5 s
    second = windows.window()
    assert second.duration == CHUNK_SECONDS
    assert second.to_original(0.0) == 26.5 and abs(float(second.audio[0]) - 26.5) < 1e-3
    assert second.to_original(10.0) == 36.5  # across the join of two pieces
    windows.advance(CHUNK_SECONDS)
    last = windows.window()
    assert round(last.duration, 3) == 13.5 and last.original_end == 70.0
    windows.advance(last.duration)
    assert windows.window() is None and windows.done.duration == 70.0


def test_a_sliver_left_after_the_last_window_is_not_decoded():
    windows = _windows(30.05)
    windows.advance(windows.window().duration)
    assert windows.window() is None


class _Tokens:
    """The two token ids the segment rules read: timestamps start at 100, end of text is 99."""

    timestamp_begin = 100
    eot = 99


def _at(seconds: float) -> int:
    return 100 + round(seconds / 0.02)


def test_a_window_cut_short_resumes_at_the_last_complete_segment():
    from polymodal.speech.tokens import complete_part

    finished = [_at(0), 1, 2, _at(4), _at(4), 3, _at(9)]  # the last segment was closed
    assert complete_part({"tokens": finished}, _Tokens)[1] is None
    cut = [_at(0), 1, 2, _at(4), _at(4), 3, 4, _at(28), _at(28), 5]  # text runs off the edge
    output, seek = complete_part({"tokens": cut}, _Tokens)
    assert seek == 28.0 and output["tokens"] == cut[:8]
    assert complete_part({"tokens": [_at(0), 1, 2]}, _Tokens)[1] is None  # no segment closed


def test_encoder_context_fits_short_windows_with_a_margin():
    from polymodal.speech.chunks import Chunk
    from polymodal.speech.engine import FULL_CONTEXT_FRAMES, context_frames

    def window(seconds: float) -> Chunk:
        return Chunk(0, np.zeros(int(seconds * 16000), np.float32), ((0.0, seconds),))

    # 4 s of speech + 5 s margin, rounded up to 10 s; a batch takes its longest window.
    assert context_frames([window(4.0)]) == 1000
    assert context_frames([window(4.0), window(12.0)]) == 2000
    assert context_frames([window(28.0)]) == FULL_CONTEXT_FRAMES
    assert context_frames([window(4.0)], full=True) == FULL_CONTEXT_FRAMES
