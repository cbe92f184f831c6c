"""Subtitle cue layout with broadcast habits, shared by the SRT and VTT renderers.

Rules a cue always keeps: at most ``max_lines`` lines of at most ``max_chars`` characters,
broken at word boundaries; timed from word timestamps where there are any; never overlapping
the next cue, never zero-length, never longer than the audio; and never holding two speakers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polymodal.speech.results import Segment

MAX_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 0.7
PAUSE_SECONDS = 1.5


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Token:
    text: str
    start: float
    end: float
    speaker: str | None
    segment: int


def _tokens(segments: Sequence[Segment]) -> list[_Token]:
    """Words with times: the word timestamps, or times spread over a segment by characters."""
    tokens = []
    for index, segment in enumerate(segments):
        if segment.words:
            for word in segment.words:
                text = word.word.strip()
                speaker = word.speaker or segment.speaker
                glued = tokens and tokens[-1].segment == index and not word.word[:1].isspace()
                if glued and tokens[-1].speaker == speaker:
                    # Whisper marks a new word by a leading space; "M" + "-fire" is one word.
                    last = tokens[-1]
                    tokens[-1] = _Token(last.text + text, last.start, word.end, speaker, index)
                elif text:
                    tokens.append(_Token(text, word.start, word.end, speaker, index))
            continue
        words = segment.text.split()
        total = sum(len(w) + 1 for w in words) or 1
        at = segment.start
        span = max(segment.end - segment.start, 0.0)
        for word in words:
            step = span * (len(word) + 1) / total
            tokens.append(_Token(word, at, at + step, segment.speaker, index))
            at += step
    return tokens


def wrap(words: Sequence[str], max_chars: int = MAX_CHARS, first_room: int | None = None):
    """Balanced lines at word boundaries, or ``None`` when they need more than two lines.

    ``first_room`` is the first line's width when a speaker label takes part of it.
    """
    first = max_chars if first_room is None else first_room
    one = " ".join(words)
    if len(one) <= first:
        return [one]
    best = None
    for cut in range(1, len(words)):
        top, bottom = " ".join(words[:cut]), " ".join(words[cut:])
        if len(top) <= first and len(bottom) <= max_chars:
            worst = max(len(top), len(bottom))
            if best is None or worst < best[0]:
                best = (worst, [top, bottom])
    return best[1] if best else None


def _split_long(token: _Token, max_chars: int) -> list[_Token]:
    """A single word too long for a line (a URL, say) is cut into line-sized pieces."""
    parts = [token.text[i : i + max_chars] for i in range(0, len(token.text), max_chars)]
    step = (token.end - token.start) / len(parts)
    return [
        _Token(
            p, token.start + i * step, token.start + (i + 1) * step, token.speaker, token.segment
        )
        for i, p in enumerate(parts)
    ]


def _groups(
    tokens: list[_Token], max_chars: int, room: Callable[[str | None], int]
) -> list[list[_Token]]:
    groups: list[list[_Token]] = []
    current: list[_Token] = []
    for token in tokens:
        if current:
            last = current[-1]
            words = [t.text for t in current] + [token.text]
            fits = wrap(words, max_chars, room(token.speaker)) is not None
            sentence_end = last.text[-1] in ".?!。？！" and len(" ".join(words)) > max_chars
            if (
                token.speaker != last.speaker
                or not fits
                or token.start - last.end > PAUSE_SECONDS
                or token.end - current[0].start > MAX_CUE_SECONDS
                or sentence_end
                or (token.segment != last.segment and len(" ".join(words)) > max_chars)
            ):
                groups.append(current)
                current = []
        current.append(token)
    if current:
        groups.append(current)
    return groups


def layout_cues(
    segments: Sequence[Segment],
    *,
    duration: float | None = None,
    max_chars: int = MAX_CHARS,
    label: Callable[[str | None], str] = lambda speaker: "",
) -> list[Cue]:
    """Cues for ``segments``. ``label(speaker)`` is the prefix the first line will carry (its
    width is reserved); ``duration`` keeps every cue inside the audio."""

    def room(speaker: str | None) -> int:
        return max_chars - len(label(speaker))

    tokens = []
    for token in _tokens(segments):
        width = min(room(token.speaker), max_chars)
        tokens.extend(_split_long(token, width) if len(token.text) > width else [token])
    cues = []
    for group in _groups(tokens, max_chars, room):
        lines = wrap([t.text for t in group], max_chars, room(group[0].speaker))
        cues.append(Cue(group[0].start, group[-1].end, tuple(lines or []), group[0].speaker))
    return _fix_times(cues, duration)


def _fix_times(cues: list[Cue], duration: float | None) -> list[Cue]:
    """Millisecond times that increase, never overlap, never vanish, stay inside the audio."""
    limit = duration if duration and duration > 0 else None
    fixed: list[Cue] = []
    for index, cue in enumerate(cues):
        start = round(cue.start, 3)
        end = round(cue.end, 3)
        if fixed:
            start = max(start, fixed[-1].end)
        nxt = round(cues[index + 1].start, 3) if index + 1 < len(cues) else None
        bounds = [x for x in (nxt, limit) if x is not None]
        ceiling = max(min(bounds), start) if bounds else None
        if end - start < MIN_CUE_SECONDS:
            end = start + MIN_CUE_SECONDS  # readable: extend into the silence that follows
        if ceiling is not None and end > ceiling:
            end = ceiling
        if end <= start:
            # No room at all: take a sliver from the previous cue rather than lose the text.
            if fixed and fixed[-1].end - fixed[-1].start > 0.2:
                prev = fixed[-1]
                fixed[-1] = Cue(prev.start, round(prev.end - 0.1, 3), prev.lines, prev.speaker)
                start = fixed[-1].end
            end = start + 0.1 if limit is None else min(start + 0.1, limit)
            if end <= start:
                continue
        fixed.append(Cue(round(start, 3), round(end, 3), cue.lines, cue.speaker))
    return fixed
