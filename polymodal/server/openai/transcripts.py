"""A :class:`polymodal.Transcript` in OpenAI's ``response_format`` shapes.

``text``, ``srt`` and ``vtt`` are the speech room's own renderers
(:func:`polymodal.render_transcript`), so the server's subtitles are byte for byte the CLI's.
``json`` and ``verbose_json`` are OpenAI's records, built from the transcript as those
renderers show it (:func:`polymodal.readable_transcript`: a cut repetition loop is left out
everywhere alike).

``verbose_json`` follows OpenAI's field names: ``language`` as the full English name
("english"; a translation's is always "english", the language written), segments numbered
from 0, words without their leading space. Fields Whisper's API has but our decoder does not
keep are filled plainly: ``tokens`` is empty, ``temperature`` 0.0 (the transcript does not
record which fallback temperature a window took), and ``seek`` is the segment's start in 10 ms
frames. Our extras: ``suspect_reasons`` and ``language`` (its full name) per segment.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response

import polymodal

TEXT_FORMATS = {
    "text": ("txt", "text/plain"),
    "srt": ("srt", "text/plain"),
    "vtt": ("vtt", "text/vtt"),
}


def transcript_response(
    transcript: Any, response_format: str, granularities: Collection[str]
) -> Response:
    """The HTTP response for ``transcript`` in ``response_format``."""
    if response_format in TEXT_FORMATS:
        fmt, media_type = TEXT_FORMATS[response_format]
        text = polymodal.render_transcript(transcript, fmt)
        return PlainTextResponse(text, media_type=f"{media_type}; charset=utf-8")
    shown = polymodal.readable_transcript(transcript)
    if response_format == "verbose_json":
        return JSONResponse(verbose_json(shown, granularities))
    return JSONResponse({"text": shown.text, "usage": _usage(shown)})


def verbose_json(transcript: Any, granularities: Collection[str]) -> dict[str, Any]:
    """OpenAI's verbose record: segments unless only ``word`` granularity was asked for (as
    OpenAI does), words when ``word`` was."""
    translated = transcript.task == "translate"
    record: dict[str, Any] = {
        "task": transcript.task,
        "language": "english" if translated else polymodal.language_name(transcript.language),
        "duration": transcript.duration,
        "text": transcript.text,
    }
    if "segment" in granularities or not granularities:
        record["segments"] = [_segment(i, s) for i, s in enumerate(transcript.segments)]
    if "word" in granularities:
        record["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for segment in transcript.segments
            for w in segment.words
        ]
    record["usage"] = _usage(transcript)
    return record


def _segment(index: int, segment: Any) -> dict[str, Any]:
    return {
        "id": index,
        "seek": round(segment.start * 100),
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
        "suspect_reasons": list(segment.suspect_reasons),
        "language": polymodal.language_name(segment.language) if segment.language else None,
    }


def _usage(transcript: Any) -> dict[str, Any]:
    """What OpenAI bills a Whisper request by: seconds of audio."""
    return {"type": "duration", "seconds": round(transcript.duration, 3)}


def empty_transcript(task: str, language: str | None, duration: float, model: str) -> Any:
    """The transcript of an upload with no speech in it: OpenAI answers silence with empty
    text, not an error, so clients recording voice notes see nothing rather than a failure."""
    return polymodal.Transcript(
        source=None,
        model=model,
        task=task,
        language=language or "en",
        language_probability=0.0,
        duration=round(duration, 3),
        segments=(),
    )
