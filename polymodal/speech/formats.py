"""Renderers: a :class:`Transcript` as plain text, SRT, WebVTT or JSON.

The CLI, the folder runner and the server all render through here, so the same transcript reads
the same everywhere. Speaker labels (when segments carry them) appear as SRT ``[Alice]``
prefixes, WebVTT voice tags ``<v Alice>``, a script in text ("Alice: ..."), and JSON fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from polymodal.speech.results import Segment, Transcript
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


def _segment_json(segment: Segment, name: Callable[[str | None], str | None]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": segment.id,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
        "suspect": segment.suspect,
        "suspect_reasons": list(segment.suspect_reasons),
        "speaker": segment.speaker,
        "speaker_name": name(segment.speaker),
        "words": [
            {
                "start": w.start,
                "end": w.end,
                "word": w.text,
                "probability": w.probability,
                "speaker": w.speaker,
            }
            for w in segment.words
        ],
    }
    return data


def transcript_dict(transcript: Transcript) -> dict[str, Any]:
    """The JSON shape: info fields, full text, segments with words, speakers summary."""
    info = transcript.info
    name = _namer(transcript)
    return {
        "source": info.source,
        "model": info.model,
        "task": info.task,
        "language": info.language,
        "language_probability": info.language_probability,
        "duration": info.duration,
        "text": transcript.text,
        "segments": [_segment_json(s, name) for s in transcript.segments],
        "speakers": [
            {
                "label": s.label,
                "name": s.name,
                "speaking_time": s.speaking_time,
                "turns": s.turns,
            }
            for s in transcript.speakers
        ],
    }


def render_json(transcript: Transcript) -> str:
    return json.dumps(transcript_dict(transcript), ensure_ascii=False, indent=2) + "\n"


RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "txt": render_txt,
    "srt": render_srt,
    "vtt": render_vtt,
    "json": render_json,
}


def render(transcript: Transcript, fmt: str) -> str:
    """``transcript`` in ``fmt`` (txt, srt, vtt or json)."""
    from polymodal.errors import BadInputError

    if fmt not in RENDERERS:
        raise BadInputError(f"Unknown output format '{fmt}': use one of {', '.join(FORMATS)}.")
    return RENDERERS[fmt](transcript)


def drop_suspect(transcript: Transcript) -> Transcript:
    """The transcript without suspect segments (for ``--drop-suspect``)."""
    from dataclasses import replace

    return replace(transcript, segments=tuple(s for s in transcript.segments if not s.suspect))
