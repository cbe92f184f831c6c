"""Chunk planning: as few 30 s chunks as the speech allows, cut at the deepest pause."""

from __future__ import annotations

import numpy as np

from polymodal.speech.chunks import CHUNK_SECONDS, _plan, chunk_stream

RATE = 16000


def _piece(start: float, seconds: float, loud: float = 0.1):
    return (start, np.full(int(seconds * RATE), loud, dtype=np.float32))


def test_plan_uses_fewest_chunks_and_the_real_gap():
    # 6 pieces of 9 s; a real 2 s pause after the third. 54 s needs 2 chunks: cut at the pause.
    pieces, at = [], 0.0
    for i in range(6):
        pieces.append(_piece(at, 9.0))
        at += 9.0 + (2.0 if i == 2 else 0.0)
    cuts = _plan(pieces)
    assert cuts == [3, 6]
    for begin, end in zip([0, *cuts], cuts, strict=False):
        assert sum(p[1].size for p in pieces[begin:end]) <= CHUNK_SECONDS * RATE


def test_plan_prefers_the_quietest_touching_junction():
    pieces = [_piece(0, 14), _piece(14, 14, loud=0.001), _piece(28, 14)]
    # quiet piece in the middle: cutting next to it (either side) beats a loud junction
    assert _plan(pieces) in ([1, 3], [2, 3])


def test_chunks_cover_all_speech_without_vad_windows():
    audio = np.zeros(RATE * 70, dtype=np.float32)
    items = list(chunk_stream([audio], vad=False))
    chunks = items[:-1]
    assert [round(c.duration) for c in chunks] == [30, 30, 10]
    assert items[-1].duration == 70.0
