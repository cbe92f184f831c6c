"""Suspect flags: each reason fires on what it is meant to catch, and not on sound text."""

from __future__ import annotations

from polymodal.speech.chunks import Chunk
from polymodal.speech.suspect import (
    has_repetition,
    is_stock_phrase,
    speech_overlap,
    stock_patterns,
    suspect_reasons,
)

SOUND = {"avg_logprob": -0.2, "compression_ratio": 1.4, "no_speech_prob": 0.01}


def test_stock_phrases_come_from_the_data_file():
    assert len(stock_patterns()) > 20
    assert is_stock_phrase("Thanks for watching!")
    assert is_stock_phrase("Subtitles by the Amara.org community")
    assert is_stock_phrase("Untertitel im Auftrag des ZDF, 2017")
    assert is_stock_phrase("so, thanks for watching everyone")
    assert not is_stock_phrase("Thanks for watching the children while I was out shopping today.")
    assert not is_stock_phrase("The meeting starts at noon.")


def test_repetition_loops():
    assert has_repetition("no no no no")
    assert has_repetition("I will be back. I will be back. I will be back.")
    assert not has_repetition("The cat sat on the mat and the dog sat on the rug.")
    assert not has_repetition("no, no, no.")  # emphasis, not a loop


def test_reasons_from_scores_and_speech_regions():
    assert suspect_reasons("A sound sentence.", 1.0, 2.0, speech=[(0.5, 2.5)], **SOUND) == ()
    reasons = suspect_reasons(
        "Thanks for watching!",
        10.0,
        12.0,
        avg_logprob=-1.5,
        compression_ratio=2.9,
        no_speech_prob=0.8,
        speech=[(0.0, 5.0)],
    )
    assert set(reasons) == {
        "stock_phrase",
        "low_logprob",
        "compression_ratio",
        "no_speech",
        "outside_speech",
    }
    assert suspect_reasons("Hello there.", 10.0, 12.0, speech=None, **SOUND) == ()


def test_speech_overlap_fraction():
    assert speech_overlap(0.0, 4.0, [(1.0, 2.0), (3.0, 10.0)]) == 0.5
    assert speech_overlap(5.0, 5.0, [(4.0, 6.0)]) == 1.0


def test_chunk_maps_times_back_across_removed_silence():
    import numpy as np

    chunk = Chunk(0, np.zeros(16000 * 5, dtype=np.float32), ((1.0, 2.0), (10.0, 3.0)))
    assert chunk.to_original(0.5) == 1.5
    assert chunk.to_original(2.5) == 10.5
    assert chunk.to_original(2.0, is_end=True) == 3.0
    assert chunk.map_span(1.9, 2.3) == (10.0, 10.3)  # middle in the second piece
    rest = chunk.after(2.5)
    assert rest.pieces == ((10.5, 2.5),) and rest.audio.size == 16000 * 2.5


def test_a_loop_the_decoder_cut_is_flagged_first():
    """The cut text ("yeah, yeah,") no longer looks like a loop: the decoder's flag says it."""
    reasons = suspect_reasons("Yeah, yeah,", 0.0, 25.0, speech=None, loop=True, **SOUND)
    assert reasons == ("loop",)
    assert "loop" not in suspect_reasons("Yeah, yeah,", 0.0, 25.0, speech=None, **SOUND)
