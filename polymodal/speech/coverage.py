"""Never lose speech silently: what VAD heard against what the text covers, and a second try.

Whisper skips whole sentences now and then (at window seams, after a topic change, on a quiet
voice), closing its text as if the window were done, so the sequential loop moves on and the
words are gone without a trace. Here every decoded window is held until its source's next
window arrives (then its stretch of the timeline is final); heard speech in it that no segment
covers, :data:`REDECODE_MIN_SECONDS` or more, is decoded again on its own (just that stretch,
no prompt, so nothing primes the skip). Whatever still has no text is reported on the
transcript (``untranscribed_speech`` and a ``warnings`` line) rather than flagged on a
neighbouring segment: that neighbour's own text is sound, and ``drop_suspect`` would drop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from polymodal.speech.chunks import Chunk, Region, SourceDone
from polymodal.speech.engine import Decoded, decode
from polymodal.speech.options import DecodeOptions

REDECODE_MIN_SECONDS = 2.0  # heard speech this long with no text is decoded again / reported
_REDECODE_MARGIN = 0.5  # seconds of audio kept each side of a gap (segment ends are rough)
_KEEP_OVERLAP = 0.5  # a re-decoded segment is kept when half of it lies in the gap


def merged(regions: Iterable[Region]) -> list[Region]:
    """Regions sorted, overlapping ones joined."""
    out: list[Region] = []
    for start, end in sorted(regions):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        elif end > start:
            out.append((start, end))
    return out


def seconds(regions: Iterable[Region]) -> float:
    return sum(end - start for start, end in merged(regions))


def intersection(a: Iterable[Region], b: Iterable[Region]) -> list[Region]:
    """Where both sets of regions hold, as regions."""
    b = merged(b)
    out = []
    for start, end in merged(a):
        for s, e in b:
            if s < end and start < e:
                out.append((max(start, s), min(end, e)))
    return out


def uncovered(
    speech: Sequence[Region], spans: Sequence[Region], min_seconds: float = REDECODE_MIN_SECONDS
) -> list[Region]:
    """Stretches of ``speech`` inside no span, each at least ``min_seconds`` long."""
    gaps = []
    for start, end in merged(speech):
        cursor = start
        for s, e in merged(spans):
            if e <= cursor or s >= end:
                continue
            if s > cursor:
                gaps.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < end:
            gaps.append((cursor, end))
    return [(round(s, 3), round(e, 3)) for s, e in gaps if e - s >= min_seconds]


def _span(segment) -> Region:
    if isinstance(segment, dict):
        return float(segment["start"]), float(segment["end"])
    return float(segment.start), float(segment.end)


def with_repairs(
    engine, items: Iterator[Decoded | SourceDone], options: DecodeOptions
) -> Iterator[Decoded | SourceDone]:
    """:func:`engine.decode`'s stream with each window's untranscribed speech decoded again.

    A window is yielded one window late (when its stretch is final), with the re-decoded
    segments merged in time order; a source's :class:`SourceDone` still comes last.
    """
    held: dict[int, Decoded] = {}
    for item in items:
        if isinstance(item, Decoded):
            previous = held.pop(item.chunk.source, None)
            if previous is not None:
                yield _repaired(engine, previous, item.chunk.pieces[0][0], options)
            held[item.chunk.source] = item
            continue
        previous = held.pop(item.source, None)
        if previous is not None:
            yield _repaired(engine, previous, previous.chunk.original_end, options)
        yield item


def _repaired(engine, window: Decoded, final_until: float, options: DecodeOptions) -> Decoded:
    """``window`` with its speech before ``final_until`` that has no text decoded alone."""
    chunk = window.chunk
    inside = [(start, min(start + length, final_until)) for start, length in chunk.pieces]
    heard = intersection(chunk.speech, inside)
    gaps = uncovered(heard, [_span(s) for s in window.segments])
    if not gaps:
        return window
    found = list(window.segments)
    for start, end in gaps:
        part = chunk.between(start - _REDECODE_MARGIN, end + _REDECODE_MARGIN)
        found.extend(
            s for s in _decode_alone(engine, part, window.language, options) if _in(s, (start, end))
        )
    return replace(window, segments=type(window.segments)(sorted(found, key=_span)))


def _in(segment, gap: Region) -> bool:
    start, end = _span(segment)
    inside = max(0.0, min(end, gap[1]) - max(start, gap[0]))
    return inside >= _KEEP_OVERLAP * max(end - start, 1e-3)


def _decode_alone(engine, part: Chunk, language: str, options: DecodeOptions) -> list:
    """Segments of one stretch decoded as a source of its own, unprompted."""
    alone = replace(
        options,
        language=options.language or language,
        initial_prompt=None,
        condition_on_previous_text=False,
        batch_size=1,
    )
    stream = iter([part, SourceDone(part.source, part.speech, part.original_end)])
    return [
        s
        for item in decode(engine, [stream], alone)
        if isinstance(item, Decoded)
        for s in item.segments
    ]
