"""``/v1/polymodal/diarize``: who spoke when in an uploaded recording, offline.

The upload goes to a private temporary file, is sniffed (415 when ffmpeg finds no audio) and
diarized on the speech workers by :func:`polymodal.diarize` (the catalogue's packaged voice
model); the answer is the :class:`polymodal.Diarization` as ``polymodal diarize --json``
writes it: turns with start, end and speaker label. Audio without speech is a 400 (there are
no speakers to label). Naming voices from enrolment clips is the transcription route's
``known_speaker_names[]`` / ``known_speaker_references[]`` (``diarized_json``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

import polymodal
from polymodal.server.state import ServerState, server_state
from polymodal.server.uploads import audio_duration, saved_upload, upload_named_plainly

router = APIRouter(prefix="/v1/polymodal", tags=["polymodal"])


@router.post("/diarize")
async def diarize(
    file: Annotated[UploadFile, File(description="The audio (or video) to diarize.")],
    state: Annotated[ServerState, Depends(server_state)],
    speakers: Annotated[str, Form(description="auto, or how many speakers there are.")] = "auto",
    min_speakers: Annotated[int | None, Form(ge=1, description="At least this many.")] = None,
    max_speakers: Annotated[int | None, Form(ge=1, description="At most this many.")] = None,
) -> JSONResponse:
    """Speaker turns of the recording (``polymodal diarize --json``)."""
    options = polymodal.SpeakerOptions.parse(speakers, min_speakers, max_speakers)

    def run() -> Any:
        with saved_upload(file.file) as path, upload_named_plainly(path):
            audio_duration(path)  # 415 for what is not audio, before a model is loaded
            return polymodal.to_data(polymodal.diarize(path, options))

    return JSONResponse(await state.speech.run(run))
