"""LocalAgreement-2 (whisper_streaming's policy) on one item of live speech: which words of
a fresh hypothesis are new, which of them the previous hypothesis agreed on (those are
committed, for good), and where the buffer may be cut so the next decode reads less.

Words carry session times (the decoder maps them through the chunk's pieces), so a word is
"already committed" by time, and a committed tail Whisper hears again at the start of a
buffer (word times drift a little between decodes) is recognised by its text. Agreement
compares words without case and punctuation ("birds" and "birds," agree); the newer
hypothesis' spelling is the one committed, since it heard more of the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from polymodal.media.audio import SAMPLE_RATE
from polymodal.speech.results import Word

_SENTENCE_END = (".", "?", "!", "。", "？", "！")
_SEAM = 0.1  # seconds: a re-heard word whose middle is this near a committed end is a repeat
_SEGMENT_SLACK = 0.15  # seconds: a committed word this near a segment's end ends it
_MAX_REPEAT = 5  # words: the longest committed tail looked for again at a hypothesis' start


@dataclass
class ItemBuffer:
    """One item's audio since its last cut, and its words: committed, and the previous
    hypothesis' tail (``tentative``) that the next one must agree with."""

    id: str
    audio_start: int  # samples into the session where the item's audio begins
    buffer_start: float  # seconds into the session of ``audio[0]``
    audio: np.ndarray
    committed: list[Word] = field(default_factory=list)
    tentative: list[Word] = field(default_factory=list)
    before: list[Word] = field(default_factory=list)
    """The previous item's last words, when its audio is carried in front of this one's
    (context for Whisper): already committed there, so never taken as new here."""
    text: str = ""
    prompted: int = 0  # committed words already handed to the prompt (:meth:`said`)
    trimmed: int = 0  # samples cut from the front so far
    decoded: int = 0  # ``heard`` at the last decode

    @property
    def heard(self) -> int:
        """Samples of this item received so far, cut ones included."""
        return self.trimmed + self.audio.size

    @property
    def seconds(self) -> float:
        """Seconds of audio in the buffer now."""
        return self.audio.size / SAMPLE_RATE

    def agree(self, words: list[Word], *, commit: bool = True) -> list[Word]:
        """Take a hypothesis: the words it and the previous one agree on (none when
        ``commit`` is off), which the caller then :meth:`commit`\\ s."""
        fresh = self.fresh(words)
        agreed = agreed_prefix(fresh, self.tentative) if commit else []
        self.tentative = fresh[len(agreed) :]
        return agreed

    def fresh(self, words: list[Word]) -> list[Word]:
        """A hypothesis' words not committed yet (here, or in the carried context)."""
        return unheard(words, self.committed or self.before)

    def commit(self, words: list[Word]) -> str:
        """Commit ``words``; the text they add (the item's first word loses its space)."""
        delta = "".join(w.word for w in words)
        if not self.text:
            delta = delta.lstrip()
        self.committed.extend(words)
        self.text += delta
        return delta

    def trim(self, segment_ends: list[float], trim_seconds: float, max_seconds: float) -> None:
        """Past ``trim_seconds``, cut after the last committed word that ends a sentence or a
        segment; past ``max_seconds``, after the last committed word, and with none, keep
        only the last ``trim_seconds`` (speech Whisper gives no stable words for). A cut
        falls midway between the word's end and the next word's start."""
        if self.seconds <= trim_seconds:
            return
        committed = self.committed
        inside = [i for i, w in enumerate(committed) if w.end > self.buffer_start]
        done = [i for i in inside if _ends_phrase(committed[i], segment_ends)]
        over = self.seconds > max_seconds
        if not done and over:
            done = inside
        if done:
            last = done[-1]
            after = [*committed[last + 1 :], *self.tentative]
            end = committed[last].end
            following = max(after[0].start, end) if after else end
            self._cut((end + following) / 2)
        elif over:
            self._cut(self.buffer_start + self.seconds - trim_seconds)

    def said(self, *, everything: bool = False) -> str:
        """Committed text now outside the buffer (all of it with ``everything``), not yet
        handed out: what the session adds to its prompt."""
        upto = len(self.committed)
        if not everything:
            upto = sum(1 for w in self.committed if w.end <= self.buffer_start)
        context = ""
        if self.before and (everything or self.before[-1].end <= self.buffer_start):
            context, self.before = "".join(w.word for w in self.before), []
        if upto <= self.prompted:
            return context
        text = "".join(w.word for w in self.committed[self.prompted : upto])
        self.prompted = upto
        return context + text

    def _cut(self, at: float) -> None:
        drop = min(max(round((at - self.buffer_start) * SAMPLE_RATE), 0), self.audio.size)
        self.audio = self.audio[drop:]
        self.trimmed += drop
        self.buffer_start += drop / SAMPLE_RATE
        self.tentative = [w for w in self.tentative if w.end > self.buffer_start]


def _ends_phrase(word: Word, segment_ends: list[float]) -> bool:
    """Whether a committed word ends a sentence, or a segment of the latest hypothesis (its
    times drift a little from one hypothesis to the next)."""
    if word.word.rstrip().endswith(_SENTENCE_END):
        return True
    return any(abs(word.end - end) <= _SEGMENT_SLACK for end in segment_ends)


def norm(word: str) -> str:
    """A word as agreement compares it: case and punctuation don't count."""
    return re.sub(r"[^\w']+", "", word.lower())


def unheard(words: list[Word], committed: list[Word]) -> list[Word]:
    """The hypothesis' words after what is already committed: those whose middle lies past
    the last committed word's end, less a committed tail heard again at their start."""
    if not committed:
        return list(words)
    end = committed[-1].end
    fresh = [w for w in words if (w.start + w.end) / 2 > end - _SEAM]
    tail = [norm(w.word) for w in committed[-_MAX_REPEAT:]]
    head = [norm(w.word) for w in fresh[: _MAX_REPEAT + 1]]
    for size in range(min(len(tail), len(head)), 0, -1):
        if tail[-size:] == head[:size]:
            return fresh[size:]
        if size >= 2 and tail[-size:] == head[1 : size + 1]:
            return fresh[size + 1 :]  # a stray word before the repeat ("to be able" again)
    return fresh


def spoken(words: Iterable[Word]) -> list[Word]:
    """The words that hold a letter or digit: Whisper writes a trailing silence as
    punctuation-only "words" (" .", " . ."), which would otherwise be committed as text."""
    return [w for w in words if norm(w.word)]


def agreed_prefix(fresh: list[Word], previous: list[Word]) -> list[Word]:
    """The longest prefix two consecutive hypotheses share (the newer's spelling)."""
    count = 0
    for new, old in zip(fresh, previous, strict=False):
        if norm(new.word) != norm(old.word):
            break
        count += 1
    return fresh[:count]
