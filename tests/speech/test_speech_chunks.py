"""Speech pieces and Whisper windows: 30 s at a time, moving on as far as decoding consumed."""

from __future__ import annotations

import numpy as np

from polymodal.speech.chunks import CHUNK_SECONDS, SourceDone, SourceWindows, speech_pieces
from polymodal.speech.options import DecodeOptions

RATE = 16000
PLAIN = DecodeOptions(vad=False, level_audio=False)


def test_pieces_cover_all_audio_without_vad():
    audio = np.zeros(RATE * 70, dtype=np.float32)
    items = list(speech_pieces([audio], options=PLAIN))
    pieces = items[:-1]
    assert [round(c.duration) for c in pieces] == [30, 30, 10]
    assert [c.pieces[0][0] for c in pieces] == [0.0, 30.0, 60.0]
    assert isinstance(items[-1], SourceDone) and items[-1].duration == 70.0


def _windows(seconds: float) -> SourceWindows:
    audio = np.arange(int(seconds * RATE), dtype=np.float32) / RATE  # sample value = its time
    return SourceWindows(speech_pieces([audio], options=PLAIN))


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
    from polymodal.speech.generate import Hypothesis
    from polymodal.speech.tokens import complete_part

    def hypothesis(tokens: list[int]) -> Hypothesis:
        return Hypothesis(tuple(tokens), -0.2, 0.01, 1.4)

    finished = [_at(0), 1, 2, _at(4), _at(4), 3, _at(9)]  # the last segment was closed
    assert complete_part(hypothesis(finished), _Tokens)[1] is None
    cut = [_at(0), 1, 2, _at(4), _at(4), 3, 4, _at(28), _at(28), 5]  # text runs off the edge
    output, seek = complete_part(hypothesis(cut), _Tokens)
    assert seek == 28.0 and output.tokens == tuple(cut[:8])
    assert complete_part(hypothesis([_at(0), 1, 2]), _Tokens)[1] is None  # no segment closed


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


def test_a_long_window_ends_at_a_pause_not_mid_word():
    """Speech with no 2 s pause runs past 30 s: the window ends in the quiet 300 ms at 25 s,
    not at 30 s inside a word."""
    from polymodal.speech.chunks import cut_point

    rng = np.random.default_rng(0)
    audio = (rng.normal(size=RATE * 40) * 0.1).astype(np.float32)
    audio[int(25.0 * RATE) : int(25.3 * RATE)] *= 0.01
    assert 25.0 <= cut_point(audio) <= 25.3
    windows = SourceWindows(speech_pieces([audio], options=PLAIN))
    assert windows.window().duration == CHUNK_SECONDS  # the first 30 s piece, whole
    windows.advance(2.0)  # now 28 s + 10 s are buffered: the window ends at the pause
    assert 25.0 <= windows.window().original_end <= 25.3
    steady = (rng.normal(size=RATE * 40) * 0.1).astype(np.float32)
    assert cut_point(steady) == CHUNK_SECONDS  # no pause: the decoder resumes where it stopped


def test_thirty_seconds_and_one_sample_is_one_whole_window():
    """A 30 s recording one sample over (every AMI excerpt: 480,001 samples) is decoded whole,
    as faster-whisper decodes it, not cut at a pause in its last 10 s: cut at 28.7 s, AMI trn09
    lost "it didn't miss it" at 15 s (90 words against plain faster-whisper's 103)."""
    from polymodal.speech.chunks import Chunk

    rng = np.random.default_rng(0)
    audio = (rng.normal(size=30 * RATE + 1) * 0.1).astype(np.float32)
    audio[int(25.0 * RATE) : int(25.3 * RATE)] *= 0.01  # a pause the cut would pick
    chunk = Chunk(0, audio, ((0.0, audio.size / RATE),))
    windows = SourceWindows(iter([chunk, SourceDone(0, ((0.0, 30.0),), 30.0)]))
    window = windows.window()
    assert window.audio.size == audio.size and window.original_end == chunk.original_end
    windows.advance(window.duration)
    assert windows.window() is None


def test_a_chunk_maps_source_times_back_to_its_own():
    from polymodal.speech.chunks import Chunk

    audio = np.arange(RATE * 10, dtype=np.float32) / RATE
    chunk = Chunk(0, audio, ((2.0, 4.0), (10.0, 6.0)))  # 2-6 s, then 10-16 s of the source
    assert chunk.local(3.0) == 1.0 and chunk.local(11.0) == 5.0 and chunk.local(1.0) == 0.0
    part = chunk.between(5.0, 12.0)
    assert part.pieces == ((5.0, 1.0), (10.0, 2.0))
    assert abs(float(part.audio[0]) - 3.0) < 1e-3 and part.duration == 3.0


def test_quiet_pink_noise_is_never_heard_as_speech(tmp_path):
    """Six-second files of nothing but quiet pink noise (``sox synth pinknoise vol 0.05``,
    about -40 dBFS; ``-R`` makes it the same every run): the default listening (levelled,
    rechecked at 0.15) finds no speech in any of 24. While the leveller lifted every quiet
    stretch to its target, 3 of these 24 (7 of 60) had a "speech" region."""
    import subprocess

    from faster_whisper.audio import decode_audio

    from polymodal.speech.chunks import speech_regions

    noise = tmp_path / "pink.wav"
    subprocess.run(
        [
            "sox",
            "-R",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(noise),
            "synth",
            "144",
            "pinknoise",
            "vol",
            "0.05",
        ],
        check=True,
    )
    pieces = decode_audio(str(noise)).reshape(24, -1)
    heard = {i: speech_regions(np.ascontiguousarray(p)) for i, p in enumerate(pieces)}
    assert {i: found for i, found in heard.items() if found} == {}
