"""Speaker labelling beside the decoder: diarization sessions fed as the transcriber reads.

The transcriber hands every block of audio it decodes, with the speech its voice-activity
detection found in it, to :meth:`StreamingLabeller.listener`; one worker thread embeds the
voice windows while the decoder, whose beam search leaves cores idle, goes on. When a source is
decoded, :meth:`StreamingLabeller.label` clusters its voices and puts them on its transcript.
On 3 min of 3 voices this made speakers add 10 % to the wall time, against 26-32 % when
diarization ran before the transcription. At most :data:`MAX_PENDING` blocks wait for the
encoder, so memory stays bounded however long the audio.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from polymodal.speech.options import SpeakerOptions
from polymodal.speech.results import Transcript
from polymodal.speech.speakers.diarizer import DiarizationSession, VoiceModel, get_diarizer
from polymodal.speech.speakers.label import label_transcript

MAX_PENDING = 2

Listener = Callable[[np.ndarray, float, list[tuple[float, float]]], None]


class StreamingLabeller:
    """Diarization sessions for the sources of one run, fed beside the decoder.

    Creating it reads the enrolment clips (a bad clip fails before any decoding, once for a
    whole folder). Use it as a context manager so its thread ends with the run.
    """

    def __init__(self, options: SpeakerOptions, model: VoiceModel = None) -> None:
        self.options = options
        self.diarizer = get_diarizer(model if model is not None else options.model)
        self.diarizer.session(options)  # reads and checks the enrolment clips now
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="polymodal-speakers")
        self._sessions: dict[int, DiarizationSession] = {}
        self._pending: dict[int, list[Future]] = {}

    def __enter__(self) -> StreamingLabeller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def listener(self, source: int) -> Listener:
        """The ``on_speech`` callback for source ``source``: each block goes to the worker."""
        session = self.diarizer.session(self.options)
        self._sessions[source] = session
        pending = self._pending.setdefault(source, [])

        def on_speech(audio: np.ndarray, offset: float, regions: list[tuple[float, float]]):
            while pending and (pending[0].done() or len(pending) >= MAX_PENDING):
                pending.pop(0).result()  # waits when the encoder is behind; raises its error
            pending.append(self._pool.submit(session.add, audio, offset, regions))

        return on_speech

    def label(self, source: int, transcript: Transcript) -> Transcript:
        """``transcript`` with speakers on its segments and words, once its voices are in."""
        session = self._sessions.pop(source)
        for future in self._pending.pop(source, []):
            future.result()
        diarization = self._pool.submit(session.finish).result()
        return label_transcript(transcript, diarization)

    def discard(self, source: int) -> None:
        """Forget a source that failed (its windows would label nothing)."""
        self._sessions.pop(source, None)
        for future in self._pending.pop(source, []):
            future.cancel()
