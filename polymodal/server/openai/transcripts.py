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

``diarized_json`` is OpenAI's diarized record: segments numbered ``seg_001`` on, each with its
``speaker``, the enrolled name where one matched and otherwise ``A``, ``B``, ... in order of
first appearance. Our extras there too: ``language`` and ``suspect_reasons`` per segment.

A stream (``stream=true``) is :func:`transcript_events`: OpenAI's events, whose ``type`` and
``text``/``delta`` are as OpenAI sends them, with our extensions beside them so that one
streamed request gives what the unstreamed one does. For ``verbose_json`` the
``transcript.text.done`` event also carries that body's ``task``, ``language``, ``duration``,
``segments`` and (when ``word`` was asked for) ``words``; for ``diarized_json`` each
``transcript.text.segment`` event carries ``language`` and ``suspect_reasons`` and the done
event ``task`` and ``duration``. ``usage`` is left out of the done event: OpenAI's there
counts tokens, ours seconds. The official client keeps the extensions in ``model_extra``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import replace
from string import ascii_uppercase
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
    if response_format == "diarized_json":
        return JSONResponse(diarized_json(shown))
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
        "language": _language(segment),
    }


def _language(segment: Any) -> str | None:
    """A segment's language by its full name ("english"), as verbose_json names languages."""
    return polymodal.language_name(segment.language) if segment.language else None


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


def diarized_json(transcript: Any) -> dict[str, Any]:
    """OpenAI's ``diarized_json`` record of a speaker-labelled transcript."""
    return {
        "task": transcript.task,
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": diarized_segments(transcript),
        "usage": _usage(transcript),
    }


def diarized_segments(transcript: Any) -> list[dict[str, Any]]:
    """Segments with text, as OpenAI's ``transcript.text.segment`` objects."""
    shown = speaker_names(transcript)
    spoken = [s for s in transcript.segments if s.text.strip()]
    return [
        {
            "type": "transcript.text.segment",
            "id": f"seg_{number:03d}",
            "start": segment.start,
            "end": segment.end,
            "text": segment.text.strip(),
            "speaker": shown.get(segment.speaker, "A"),
            "language": _language(segment),
            "suspect_reasons": list(segment.suspect_reasons),
        }
        for number, segment in enumerate(spoken, start=1)
    ]


def speaker_names(transcript: Any) -> dict[str | None, str]:
    """Label -> what OpenAI shows: the enrolled name, else ``A``, ``B``, ... in order of first
    appearance (``AA`` after ``Z``); an unlabelled segment (no voice heard) is ``A``'s."""
    enrolled = {s.label: s.name for s in transcript.speakers if s.name}
    shown: dict[str | None, str] = {}
    anonymous = 0
    for label in (s.speaker for s in transcript.segments):
        if label in shown or label is None:
            continue
        if label in enrolled:
            shown[label] = enrolled[label]
        else:
            shown[label] = _letters(anonymous)
            anonymous += 1
    return shown


def _letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: spreadsheet columns, as OpenAI's labels continue."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = ascii_uppercase[rest] + letters
    return letters


async def transcript_events(
    items: AsyncIterator[Any], first: Any, response_format: str, granularities: Collection[str]
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI's transcription stream from the speech room's items (each :class:`Segment` as
    decoded, then the :class:`Transcript`; ``first`` already taken from ``items``): a
    ``transcript.text.delta`` per segment with text, the ``transcript.text.segment`` events of
    the labelled transcript for ``diarized_json``, and one ``transcript.text.done`` with the
    rest of ``response_format``'s body as extensions (see the module's docstring).

    The deltas concatenate to the done event's text exactly, and that text is the one the
    same request answers without ``stream``: segments the renderers leave out (a cut
    repetition loop) are left out here too.
    """
    text = ""
    item = first
    while not isinstance(item, polymodal.Transcript):
        piece = _shown_text(item)
        if piece:
            delta = f" {piece}" if text else piece
            text += delta
            yield {"type": "transcript.text.delta", "delta": delta}
        item = await anext(items)
    shown = polymodal.readable_transcript(item)
    done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
    if response_format == "diarized_json":
        for segment in diarized_segments(shown):
            yield segment
        done |= {"task": shown.task, "duration": shown.duration}
    elif response_format == "verbose_json":
        body = verbose_json(shown, granularities)
        done |= {k: v for k, v in body.items() if k not in ("text", "usage")}
    yield done


def _shown_text(segment: Any) -> str:
    """A segment's text as a transcript's renderers show it ("" for one they leave out)."""
    alone = replace(empty_transcript("transcribe", None, 0.0, ""), segments=(segment,))
    return polymodal.readable_transcript(alone).text
