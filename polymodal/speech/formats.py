"""Renderers: a :class:`Transcript` as plain text, SRT, WebVTT or JSON.

The CLI, the folder runner and the server all render through :func:`render_transcript`, so the
same transcript reads the same everywhere; JSON is :mod:`polymodal.render`'s, the one serialiser.
Speaker labels (when segments carry them) appear as SRT ``[Alice]`` prefixes, WebVTT voice tags
``<v Alice>``, a script in text ("Alice: ..."), and JSON fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from polymodal.errors import BadInputError
from polymodal.render import to_json
from polymodal.speech.results import Transcript
from polymodal.speech.subtitles import layout_cues

FORMATS = ("txt", "srt", "vtt", "json")


def speaker_names(transcript: Transcript) -> dict[str, str]:
    """Label → the name shown: an enrolled name where there is one, else the label."""
    return {s.label: s.name or s.label for s in transcript.speakers}


def _namer(transcript: Transcript) -> Callable[[str | None], str | None]:
    names = speaker_names(transcript)
    return lambda label: None if label is None else names.get(label, label)


def _clock(seconds: float, separator: str) -> str:
    millis = max(round(seconds * 1000), 0)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render_txt(transcript: Transcript) -> str:
    """One segment a line; with speakers, a script: one turn a paragraph, "Name: words"."""
    segments = [s for s in transcript.segments if s.text.strip()]
    if not any(s.speaker for s in segments):
        return "".join(s.text.strip() + "\n" for s in segments)
    name = _namer(transcript)
    turns: list[tuple[str | None, list[str]]] = []
    for segment in segments:
        if turns and turns[-1][0] == segment.speaker:
            turns[-1][1].append(segment.text.strip())
        else:
            turns.append((segment.speaker, [segment.text.strip()]))
    paragraphs = [f"{name(who) or 'Unknown'}: {' '.join(words)}" for who, words in turns]
    return "\n\n".join(paragraphs) + "\n"


def render_srt(transcript: Transcript) -> str:
    """SubRip with broadcast line rules; a speaker's label leads the cue as ``[Name]``."""
    name = _namer(transcript)

    def label(speaker: str | None) -> str:
        return f"[{name(speaker)}] " if speaker else ""

    cues = layout_cues(transcript.segments, duration=transcript.info.duration, label=label)
    blocks = []
    for number, cue in enumerate(cues, start=1):
        lines = list(cue.lines)
        lines[0] = label(cue.speaker) + lines[0]
        times = f"{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}"
        blocks.append(f"{number}\n{times}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(transcript: Transcript) -> str:
    """WebVTT; a speaker becomes a voice tag ``<v Name>`` (players show or style it)."""
    name = _namer(transcript)
    cues = layout_cues(transcript.segments, duration=transcript.info.duration)
    blocks = ["WEBVTT\n"]
    for cue in cues:
        lines = [_vtt_escape(line) for line in cue.lines]
        if cue.speaker:
            lines[0] = f"<v {_vtt_escape(name(cue.speaker) or cue.speaker)}>{lines[0]}"
        times = f"{_clock(cue.start, '.')} --> {_clock(cue.end, '.')}"
        blocks.append(f"{times}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_json(transcript: Transcript) -> str:
    """The transcript as :func:`polymodal.render.to_json` gives it: the same JSON everywhere."""
    return to_json(transcript) + "\n"


RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "txt": render_txt,
    "srt": render_srt,
    "vtt": render_vtt,
    "json": render_json,
}


def output_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """``"all"``, ``"srt"`` or ``["srt", "vtt"]`` as a checked tuple of format names."""
    wanted = [formats] if isinstance(formats, str) else list(formats)
    if "all" in wanted:
        return FORMATS
    for fmt in wanted:
        if fmt not in RENDERERS:
            raise BadInputError(
                f"Unknown output format '{fmt}': use {', '.join(FORMATS)} or all.", param="formats"
            )
    return tuple(dict.fromkeys(wanted))


def render(transcript: Transcript, fmt: str) -> str:
    """``transcript`` in ``fmt`` (txt, srt, vtt or json)."""
    if fmt not in RENDERERS:
        raise BadInputError(
            f"Unknown output format '{fmt}': use one of {', '.join(FORMATS)}.", param="formats"
        )
    return RENDERERS[fmt](transcript)


def render_transcript(
    transcript: Transcript, fmt: str, *, drop_suspect: bool = False, keep_loops: bool = False
) -> str:
    """``transcript`` in ``fmt``, the one place the drop rules live. txt, srt and vtt leave out
    segments flagged ``loop`` (a repetition loop that survived every retry: the decoder cut it,
    and what is left of it is noise to a reader) unless ``keep_loops``; ``drop_suspect`` leaves
    out every suspect segment. JSON always keeps them all, flagged, so nothing is lost from the
    record."""
    if fmt == "json":
        return render(transcript, fmt)
    return render(readable_transcript(transcript, drop_suspect, keep_loops=keep_loops), fmt)


def readable_transcript(
    transcript: Transcript, drop_suspect: bool = False, *, keep_loops: bool = False
) -> Transcript:
    """The transcript as txt, srt and vtt show it (see :func:`render_transcript`): without
    ``loop`` segments unless ``keep_loops``, without any suspect segment with
    ``drop_suspect``. For renderers outside this module (the server's OpenAI shapes), so
    every reader of a transcript drops the same segments."""
    if drop_suspect:
        return without_suspect(transcript)
    return transcript if keep_loops else without_suspect(transcript, ("loop",))


def without_suspect(transcript: Transcript, reasons: Sequence[str] | None = None) -> Transcript:
    """The transcript without suspect segments; with ``reasons``, without those segments that
    carry one of them."""
    if reasons is None:
        kept = tuple(s for s in transcript.segments if not s.suspect)
    else:
        kept = tuple(s for s in transcript.segments if not set(reasons) & set(s.suspect_reasons))
    return replace(transcript, segments=kept)
