"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``, as OpenAI's API has them.

Multipart fields, with OpenAI's names and defaults: ``file``, ``model``, ``language``,
``prompt``, ``temperature``, ``response_format`` (json, text, srt, vtt, verbose_json,
diarized_json), ``timestamp_granularities[]`` (word, segment), ``stream``,
``known_speaker_names[]`` + ``known_speaker_references[]`` and ``chunking_strategy``. The
fields become one :class:`polymodal.DecodeOptions` here (and, for ``diarized_json``, one
:class:`polymodal.SpeakerOptions`); the upload goes to a private temporary file, is sniffed
(415 when ffmpeg finds no audio), and is transcribed on the speech family's workers by the
shared :class:`polymodal.Transcriber`, watched (:mod:`~polymodal.server.watch`): past
``request_timeout_s`` it is stopped and answered 504, and a client that hangs up stops it.

``stream=true`` answers server-sent events (:func:`~.transcripts.transcript_events`) for
every model name (OpenAI ignores it for ``whisper-1``; we don't), with text as each window
is decoded, and for ``verbose_json`` and ``diarized_json`` the rest of the unstreamed body as
extensions of the events (segments, times, languages, suspect marks). The first segment (or
the empty transcript of silence) is awaited before the response starts, so a bad upload, an
unknown model or a bad enrolment clip is still an HTTP error with its status; a failure after
that is the stream's error event. The official client has no ``stream`` for translations, so
that route takes none.

``chunking_strategy`` (``auto`` or ``server_vad``) is accepted and checked: this server
always cuts audio at voice-activity pauses with its own tuned settings, which is what both
values ask for, so ``server_vad``'s numbers are not applied.

``temperature``: 0 (OpenAI's default) keeps Whisper's fallback ladder as it is; a value above 0
starts the sampling fallback there. Beam search runs first either way, as in faster-whisper.
Audio with no speech in it is an empty transcript, as OpenAI answers it, not an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.errors import openai_params
from polymodal.server.openai.enrolment import enrolled, known_speakers
from polymodal.server.openai.transcripts import (
    empty_transcript,
    transcript_events,
    transcript_response,
)
from polymodal.server.state import ServerState, server_state
from polymodal.server.streaming import event_stream
from polymodal.server.uploads import audio_duration, saved_upload, upload_named_plainly
from polymodal.server.watch import WatchedWork

router = APIRouter(tags=["audio"])

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"]
TranslationFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
Granularity = Literal["word", "segment"]
KnownSpeakers = tuple[tuple[str, str], ...]

#: Library parameter names -> the form fields that carry them (``error.param``). A
#: translation an English-only model cannot do is fixed by choosing another model.
PARAMS = {"initial_prompt": "prompt", "task": "model", "temperatures": "temperature"}


@dataclass(frozen=True)
class SpeechRequest:
    """One transcription or translation request, as the form gave it."""

    task: str
    model: str
    language: str | None
    prompt: str | None
    temperature: float
    response_format: ResponseFormat
    granularities: tuple[str, ...]
    stream: bool = False
    speakers: KnownSpeakers = ()
    """``(name, data URL)`` of each known speaker (``diarized_json`` only)."""

    @property
    def diarized(self) -> bool:
        return self.response_format == "diarized_json"

    def options(self) -> polymodal.DecodeOptions:
        """The decoding options the fields spell, checked where no model is needed."""
        if not 0.0 <= self.temperature <= 1.0:
            raise BadInputError(
                f"The temperature must be between 0 and 1, not {self.temperature}.",
                param="temperature",
            )
        temperatures = ladder = polymodal.DecodeOptions().temperatures
        if self.temperature > 0:
            temperatures = (self.temperature, *(t for t in ladder if t > self.temperature))
        return polymodal.DecodeOptions(
            language=self.language or None,
            task=self.task,
            initial_prompt=self.prompt or None,
            word_timestamps="word" in self.granularities,
            temperatures=temperatures,
        )


def _work(
    state: ServerState, request: SpeechRequest, upload: UploadFile, *, cancel: polymodal.CancelToken
) -> Iterator[Any]:
    """The blocking part, on a speech worker: save, sniff, load (once), transcribe; yields
    the segments as decoded when streaming, then the transcript. A bad upload is refused
    before any model is loaded for it."""
    with openai_params(PARAMS):
        options = request.options()
        name = state.whisper.resolve(request.model)
        with saved_upload(upload.file) as path, upload_named_plainly(path):
            duration = audio_duration(path)
            with _speakers(request) as speakers:
                transcriber = state.whisper.load(name, polymodal.Transcriber)
                try:
                    if request.stream:  # holds a decoding slot, as batches do
                        with state.transcriptions.slot():
                            yield from transcriber.transcribe_stream(
                                path, options, speakers=speakers, cancel=cancel
                            )
                    else:
                        yield _decode(state, transcriber, path, options, speakers, cancel)
                except polymodal.NoSpeechError:
                    language = "en" if request.task == "translate" else options.language
                    model = transcriber.model_name
                    yield empty_transcript(request.task, language, duration, model)


def _speakers(request: SpeechRequest) -> AbstractContextManager[Any]:
    """The request's speaker options (its enrolment clips on disk meanwhile) when it asks
    for ``diarized_json``, else ``None``: other formats show no speakers, so none are
    labelled and no clip is read."""
    return enrolled(request.speakers) if request.diarized else nullcontext(None)


def _decode(
    state: ServerState,
    transcriber: polymodal.Transcriber,
    path: Path,
    options: polymodal.DecodeOptions,
    speakers: polymodal.SpeakerOptions | None,
    cancel: polymodal.CancelToken,
) -> polymodal.Transcript:
    """The one call that runs a whole (unstreamed) transcription: the place a shared
    batcher of concurrent requests takes over."""
    return state.transcriptions.transcribe(
        transcriber, path, options, speakers=speakers, cancel=cancel
    )


async def _answer(
    http: Request, state: ServerState, request: SpeechRequest, upload: UploadFile
) -> Response:
    timeout = state.settings.request_timeout_s
    work = WatchedWork(http, state.speech, timeout, _work, state, request, upload)
    try:
        first = await anext(work)
    except BaseException:
        await work.close()
        raise
    if not request.stream:
        await work.close()
        return transcript_response(first, request.response_format, request.granularities)
    return event_stream(_streamed(work, first, request))


async def _streamed(work: WatchedWork, first: Any, request: SpeechRequest) -> AsyncIterator[dict]:
    """The stream's events; the work is closed however the stream ends (a client that
    disconnects cancels this generator, and so the transcription)."""
    try:
        events = transcript_events(work, first, request.response_format, request.granularities)
        async for event in events:
            yield event
    finally:
        await work.close()


_File = Annotated[UploadFile, File(description="The audio (or video) to transcribe.")]
_Model = Annotated[str, Form(description="whisper-1 (the server's default) or a catalogue name.")]
_Prompt = Annotated[str | None, Form(description="Text that primes the first window.")]
_Temperature = Annotated[float, Form(description="0: Whisper's fallback ladder; else its start.")]
_Format = Annotated[ResponseFormat, Form()]
_Granularities = Annotated[
    list[Granularity], Form(alias="timestamp_granularities[]", description="word, segment.")
]
_Stream = Annotated[bool, Form(description="Server-sent events as segments are decoded.")]
_Names = Annotated[
    list[str], Form(alias="known_speaker_names[]", description="Names of the reference voices.")
]
_References = Annotated[
    list[str],
    Form(alias="known_speaker_references[]", description="Data URLs of 2-10 s clips, by name."),
]
_Chunking = Annotated[str | None, Form(description="auto: VAD chunking (always on here).")]
_ChunkingType = Annotated[
    str | None, Form(alias="chunking_strategy[type]", description="server_vad.")
]


def _check_chunking(strategy: str | None, kind: str | None) -> None:
    if strategy is not None and strategy.strip() != "auto":
        raise BadInputError(
            f"Unknown chunking_strategy '{strategy}': use auto or an object of type server_vad.",
            param="chunking_strategy",
        )
    if kind is not None and kind.strip() != "server_vad":
        raise BadInputError(
            f"Unknown chunking_strategy type '{kind}': use server_vad.",
            param="chunking_strategy",
        )


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(
    http: Request,
    file: _File,
    model: _Model,
    state: Annotated[ServerState, Depends(server_state)],
    language: Annotated[str | None, Form(description="ISO 639-1 code; none: detect.")] = None,
    prompt: _Prompt = None,
    temperature: _Temperature = 0.0,
    response_format: _Format = "json",
    timestamp_granularities: _Granularities = [],  # noqa: B006 - FastAPI copies defaults
    stream: _Stream = False,
    known_speaker_names: _Names = [],  # noqa: B006
    known_speaker_references: _References = [],  # noqa: B006
    chunking_strategy: _Chunking = None,
    chunking_strategy_type: _ChunkingType = None,
) -> Response:
    """Speech to text in its own language (OpenAI's ``audio.transcriptions.create``)."""
    _check_chunking(chunking_strategy, chunking_strategy_type)
    request = SpeechRequest(
        "transcribe",
        model,
        language,
        prompt,
        temperature,
        response_format,
        tuple(timestamp_granularities),
        stream,
        known_speakers(known_speaker_names, known_speaker_references),
    )
    return await _answer(http, state, request, file)


@router.post("/v1/audio/translations", response_model=None)
async def translations(
    http: Request,
    file: _File,
    model: _Model,
    state: Annotated[ServerState, Depends(server_state)],
    prompt: _Prompt = None,
    temperature: _Temperature = 0.0,
    response_format: Annotated[TranslationFormat, Form()] = "json",
) -> Response:
    """Speech in any language to English text (OpenAI's ``audio.translations.create``)."""
    request = SpeechRequest("translate", model, None, prompt, temperature, response_format, ())
    return await _answer(http, state, request, file)
