"""LocalAgreement's bookkeeping on one live item (``polymodal.speech.agreement``), on words as the
decoder gives them: what is committed, when, and where the buffer is cut. No model: the cases
are the ones real recordings produced (see each test)."""

from __future__ import annotations

import numpy as np

from polymodal.media.audio import SAMPLE_RATE
from polymodal.speech.agreement import ItemBuffer, spoken, unheard
from polymodal.speech.results import Word


def words(*timed: tuple[str, float, float]) -> list[Word]:
    return [Word(start, end, text, 0.9) for text, start, end in timed]


def item(seconds: float, start: float = 0.0) -> ItemBuffer:
    audio = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    return ItemBuffer("item_test", round(start * SAMPLE_RATE), start, audio)


def test_two_agreeing_hypotheses_commit_their_common_prefix():
    buffer = item(4.0)
    assert buffer.agree(words((" We", 0.2, 0.4), (" are", 0.4, 0.6), (" gat", 0.6, 0.9))) == []
    agreed = buffer.agree(words((" We", 0.2, 0.4), (" are", 0.4, 0.6), (" gathered", 0.6, 1.1)))
    assert [w.word for w in agreed] == [" We", " are"]


def test_punctuation_only_words_are_not_spoken():
    """Trailing silence decoded as " . . ." must not become caption text."""
    decoded = words((" euros.", 58.8, 59.3), (" .", 59.3, 59.6), (" . .", 59.6, 60.1))
    assert [w.word for w in spoken(decoded)] == [" euros."]


def test_a_committed_tail_heard_again_after_a_stray_word_is_not_repeated():
    """After a cut Whisper may hear "to be able to work" where "be able" is committed: the
    stray "to" and the repeat go, the rest is new ("we will be able to work", not "be able to
    be able to work")."""
    committed = words((" will", 29.0, 29.3), (" be", 29.3, 29.6), (" able", 29.6, 30.0))
    heard = words(
        (" to", 29.95, 30.05), (" be", 30.05, 30.3), (" able", 30.3, 30.6), (" to", 30.6, 31.0),
        (" work", 31.0, 31.4),
    )  # fmt: skip
    assert [w.word for w in unheard(heard, committed)] == [" to", " work"]


def test_a_single_repeated_word_needs_to_be_at_the_start():
    """One word matching after a stray one is too weak a sign: "the the" can be speech."""
    committed = words((" of", 1.0, 1.2), (" the", 1.2, 1.4))
    heard = words((" in", 1.5, 1.7), (" the", 1.7, 1.9), (" end", 1.9, 2.2))
    assert [w.word for w in unheard(heard, committed)] == [" in", " the", " end"]


def test_a_trim_cuts_in_the_pause_after_a_phrase_and_keeps_what_follows():
    """Past ``trim_seconds`` the buffer is cut midway between the committed word that ends a
    sentence and the next word, and the words after the cut are neither lost nor repeated."""
    buffer = item(7.0, start=40.0)
    buffer.commit(words((" see.", 42.5, 42.8), (" In", 43.0, 43.2), (" 2021.", 43.2, 44.0)))
    buffer.tentative = words((" we", 44.4, 44.6))
    buffer.trim([44.0], trim_seconds=6.0, max_seconds=20.0)
    assert abs(buffer.buffer_start - 44.2) < 0.01
    assert buffer.said() == " see. In 2021."  # now outside the buffer: the prompt's tail
    fresh = buffer.fresh(words((" 2021.", 43.9, 44.1), (" we", 44.4, 44.6)))
    assert [w.word for w in fresh] == [" we"]
