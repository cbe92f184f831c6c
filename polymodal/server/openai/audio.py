"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``, as OpenAI's API has them.

Multipart fields, with OpenAI's names and defaults: ``file``, ``model``, ``language``,
``prompt``, ``temperature``, ``response_format`` (json, text, srt, vtt, verbose_json) and
``timestamp_granularities[]`` (word, segment). The fields become one
:class:`polymodal.DecodeOptions` here; the upload goes to a private temporary file, is sniffed
(415 when ffmpeg finds no audio), and is transcribed on the speech family's workers by the
shared :class:`polymodal.Transcriber`.

``temperature``: 0 (OpenAI's default) keeps Whisper's fallback ladder as it is; a value above 0
starts the sampling fallback there. Beam search runs first either way, as in faster-whisper.
Audio with no speech in it is an empty transcript, as OpenAI answers it, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.errors import openai_params
from polymodal.server.openai.transcripts import empty_transcript, transcript_response
from polymodal.server.state import ServerState, server_state
from polymodal.server.uploads import audio_duration, saved_upload, upload_named_plainly

router = APIRouter(tags=["audio"])

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
Granularity = Literal["word", "segment"]

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


def _transcribe(state: ServerState, request: SpeechRequest, upload: UploadFile):
    """The blocking part, on a speech worker: save, sniff, load (once), transcribe. A bad
    upload is refused before any model is loaded for it."""
    with openai_params(PARAMS):
        options = request.options()
        name = state.whisper.resolve(request.model)
        with saved_upload(upload.file) as path, upload_named_plainly(path):
            duration = audio_duration(path)
            transcriber = state.whisper.load(name, polymodal.Transcriber)
            try:
                return transcriber.transcribe(path, options)
            except polymodal.NoSpeechError:
                language = "en" if request.task == "translate" else options.language
                return empty_transcript(request.task, language, duration, transcriber.model_name)


async def _answer(state: ServerState, request: SpeechRequest, upload: UploadFile) -> Response:
    transcript = await state.speech.run(_transcribe, state, request, upload)
    return transcript_response(transcript, request.response_format, request.granularities)


_File = Annotated[UploadFile, File(description="The audio (or video) to transcribe.")]
_Model = Annotated[str, Form(description="whisper-1 (the server's default) or a catalogue name.")]
_Prompt = Annotated[str | None, Form(description="Text that primes the first window.")]
_Temperature = Annotated[float, Form(description="0: Whisper's fallback ladder; else its start.")]
_Format = Annotated[ResponseFormat, Form()]
_Granularities = Annotated[
    list[Granularity], Form(alias="timestamp_granularities[]", description="word, segment.")
]
_Stream = Annotated[bool, Form(description="Streamed output is not supported yet.")]


def _no_stream(stream: bool) -> None:
    if stream:
        raise BadInputError(
            "Streamed transcripts are not supported by this server yet; leave stream out.",
            param="stream",
        )


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(
    file: _File,
    model: _Model,
    state: Annotated[ServerState, Depends(server_state)],
    language: Annotated[str | None, Form(description="ISO 639-1 code; none: detect.")] = None,
    prompt: _Prompt = None,
    temperature: _Temperature = 0.0,
    response_format: _Format = "json",
    timestamp_granularities: _Granularities = [],  # noqa: B006 - FastAPI copies defaults
    stream: _Stream = False,
) -> Response:
    """Speech to text in its own language (OpenAI's ``audio.transcriptions.create``)."""
    _no_stream(stream)
    request = SpeechRequest(
        "transcribe",
        model,
        language,
        prompt,
        temperature,
        response_format,
        tuple(timestamp_granularities),
    )
    return await _answer(state, request, file)


@router.post("/v1/audio/translations", response_model=None)
async def translations(
    file: _File,
    model: _Model,
    state: Annotated[ServerState, Depends(server_state)],
    prompt: _Prompt = None,
    temperature: _Temperature = 0.0,
    response_format: _Format = "json",
) -> Response:
    """Speech in any language to English text (OpenAI's ``audio.translations.create``)."""
    request = SpeechRequest("translate", model, None, prompt, temperature, response_format, ())
    return await _answer(state, request, file)
