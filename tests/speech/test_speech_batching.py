"""A file's words do not depend on which other files share its encoder and decoder passes.

Folder runs, Ray runs, resumed runs and the server's shared batches all put different files
side by side; a user expects a file's transcript to be the same whichever of them produced it.
"""

from __future__ import annotations

import pytest
from speech_clips import CLIP_TEXTS

from polymodal.speech import DecodeOptions


def _timed_text(transcript) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in transcript.segments]


def _words(transcript) -> list[tuple[float, float, str]]:
    return [(w.start, w.end, w.word) for s in transcript.segments for w in s.words]


@pytest.fixture(scope="module")
def short_clip(clip_dir, speak_to):
    return speak_to(CLIP_TEXTS[0], clip_dir / "batching_milk.wav")


@pytest.mark.parametrize("word_timestamps", [False, True])
def test_a_short_clip_reads_the_same_beside_a_long_file(
    tiny, short_clip, short_wav, passage_wav, word_timestamps
):
    options = DecodeOptions(word_timestamps=word_timestamps)
    alone = tiny.transcribe(short_clip, options)
    together = dict(tiny.transcribe_many([passage_wav, short_clip, short_wav], options))
    assert _timed_text(together[1]) == _timed_text(alone)
    if word_timestamps:
        assert _words(together[1]) == _words(alone)
