"""Transcription as an API: a :class:`Transcriber` loads a model once and streams results.

Data flows one way: file → ``media.audio`` blocks → VAD speech in 30 s windows (``chunks``)
→ batched decoding (``engine``) → typed :class:`Segment` records with suspect flags
→ a :class:`Transcript`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from polymodal import catalog
from polymodal.errors import BadInputError, PolymodalError
from polymodal.media.audio import SAMPLE_RATE, as_waveform, iter_audio_blocks, probe_duration
from polymodal.progress import ProgressCallback, no_progress
from polymodal.speech.chunks import Chunk, SourceDone, speech_pieces
from polymodal.speech.engine import Decoded, DecodeOptions, WhisperEngine, decode
from polymodal.speech.results import Segment, Transcript, TranscriptionInfo, Word
from polymodal.speech.suspect import SuspectThresholds, suspect_reasons

AudioInput = str | os.PathLike[str] | np.ndarray


def _blocks(audio: AudioInput) -> Iterator[np.ndarray]:
    if isinstance(audio, np.ndarray):
        return iter([as_waveform(audio)])
    return iter_audio_blocks(audio)


def _name(audio: AudioInput) -> str | None:
    return None if isinstance(audio, np.ndarray) else str(audio)


def _no_speech(audio: AudioInput | None) -> BadInputError:
    what = str(audio) if audio is not None and not isinstance(audio, np.ndarray) else "The audio"
    return BadInputError(
        f"{what} contains no speech: voice-activity detection heard only silence or noise."
    )


class Transcriber:
    """A Whisper model loaded once (through the catalogue) and reused for every input.

    ``model`` is a catalogue name (``whisper-base``, ``whisper-tiny.en`` ...) or a local
    CTranslate2 directory; ``None`` takes the configured default.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        device: str = "auto",
        compute_type: str | None = None,
        threads: int = 0,
    ) -> None:
        self.engine: WhisperEngine = catalog.load(
            model, "whisper", device=device, compute_type=compute_type, threads=threads
        )

    @property
    def model_name(self) -> str:
        return self.engine.name

    # -- single input ---------------------------------------------------------------------

    def stream(
        self, audio: AudioInput, *, progress: ProgressCallback | None = None, **options: Any
    ) -> tuple[Iterator[Segment], TranscriptionInfo]:
        """Segments lazily (bounded memory on hours of audio) and the info record.

        The first batch is decoded before returning so the info can report the language. Options
        are :class:`DecodeOptions` fields. Raises :class:`BadInputError` for unreadable input
        and for input with no speech at all.
        """
        segments, info, _ = self._run(audio, progress, options)
        return segments, info

    def _run(self, audio, progress, options):
        decode_options = DecodeOptions(**options).checked(self.engine)
        total = len(audio) / SAMPLE_RATE if isinstance(audio, np.ndarray) else probe_duration(audio)
        languages: dict[int, tuple[str, float]] = {}
        pieces = speech_pieces(_blocks(audio), vad=decode_options.vad)
        items = decode(self.engine, [pieces], decode_options, languages)
        first = next(items)
        if isinstance(first, SourceDone):
            if first.error is not None:
                raise first.error
            if decode_options.vad:
                raise _no_speech(audio)
        language, probability = languages.get(0, (decode_options.language or "en", 0.0))
        info = TranscriptionInfo(
            language=language,
            language_probability=probability,
            duration=round(total or 0.0, 3),
            model=self.engine.name,
            task=decode_options.task,
            source=_name(audio),
        )
        state = {"duration": total}
        events = itertools.chain([first], items)
        thresholds = _thresholds(decode_options)
        segments = _segments(events, thresholds, total, progress, state)
        return segments, info, state

    def transcribe(
        self,
        audio: AudioInput,
        *,
        speakers: Any = None,
        progress: ProgressCallback | None = None,
        **options: Any,
    ) -> Transcript:
        """The whole transcript of one input. ``speakers`` (a ``SpeakerOptions``) labels turns.

        With speakers, the audio is decoded once, enrolment clips are checked first (so a bad
        one fails before the expensive part), the diarizer runs beside the decoder, and words
        are timed to split segments by turn.
        """
        if speakers is not None:
            return self._with_speakers(audio, speakers, progress, options)
        segments, info, state = self._run(audio, progress, options)
        collected = tuple(segments)
        info = replace(info, duration=round(state["duration"] or 0.0, 3))
        return Transcript(info=info, segments=collected)

    def _with_speakers(self, audio, speakers, progress, options) -> Transcript:
        from polymodal.speech import speakers as speaker_room
        from polymodal.speech.chunks import speech_regions

        speaker_room.check_enrolment(speakers)
        waveform = _as_array(audio)
        regions = speech_regions(waveform)
        # The voice encoder runs beside the decoder, whose beam search leaves cores idle: on
        # 3 min of 3 voices, speakers added 26-32 % to the wall time when diarization ran
        # before the transcription, and 10 % beside it.
        with ThreadPoolExecutor(1, thread_name_prefix="polymodal-speakers") as pool:
            pending = pool.submit(speaker_room.diarize, waveform, speakers, speech_regions=regions)
            transcript = self.transcribe(
                waveform, progress=progress, **{**options, "word_timestamps": True}
            )
            diarization = pending.result()
        transcript = replace(transcript, info=replace(transcript.info, source=_name(audio)))
        return speaker_room.label_transcript(transcript, diarization)

    # -- many inputs ----------------------------------------------------------------------

    def transcribe_many(
        self,
        sources: Sequence[str | os.PathLike[str]],
        *,
        progress: ProgressCallback | None = None,
        **options: Any,
    ) -> Iterator[tuple[int, Transcript | PolymodalError]]:
        """Transcribe many files in one batched stream: the model is loaded once and the
        current windows of up to ``batch_size`` files share each encoder and decoder pass.
        Yields ``(index, transcript or error)`` as each file completes (not necessarily in
        input order); a bad file yields its error and the others go on.
        """
        decode_options = DecodeOptions(**options).checked(self.engine)
        thresholds = _thresholds(decode_options)
        languages: dict[int, tuple[str, float]] = {}
        streams = (_source_pieces(i, s, decode_options.vad) for i, s in enumerate(sources))
        collected: dict[int, list[Segment]] = {}
        report = progress or no_progress
        finished = 0
        for item in decode(self.engine, streams, decode_options, languages):
            if isinstance(item, Decoded):
                segments = collected.setdefault(item.chunk.source, [])
                segments.extend(_to_segments(item, thresholds, len(segments)))
                continue
            segments = collected.pop(item.source, [])
            result = _finish(item, segments, languages, self.engine, decode_options, sources)
            finished += 1
            report(float(finished), float(len(sources)))
            yield item.source, result


def _as_array(audio: AudioInput) -> np.ndarray:
    from polymodal.media.audio import decode_audio

    return decode_audio(audio)


def _thresholds(options: DecodeOptions) -> SuspectThresholds:
    return SuspectThresholds(
        compression_ratio=options.compression_ratio_threshold,
        log_prob=options.log_prob_threshold,
        no_speech=options.no_speech_threshold,
    )


def _source_pieces(index: int, source, vad: bool) -> Iterator[Chunk | SourceDone]:
    """One file's speech pieces; a file that fails to decode ends in a SourceDone with its error."""
    try:
        yield from speech_pieces(iter_audio_blocks(source), index, vad=vad)
    except PolymodalError as exc:
        yield SourceDone(index, error=exc)


def _finish(item, segments, languages, engine, options, sources):
    if item.error is not None:
        return item.error
    if options.vad and not segments and not item.regions:
        return _no_speech(sources[item.source])
    language, probability = languages.get(item.source, (options.language or "en", 0.0))
    info = TranscriptionInfo(
        language=language,
        language_probability=probability,
        duration=item.duration,
        model=engine.name,
        task=options.task,
        source=str(sources[item.source]),
    )
    return Transcript(info=info, segments=tuple(segments))


def _segments(
    events: Iterable[Decoded | SourceDone],
    thresholds: SuspectThresholds,
    total: float | None,
    progress: ProgressCallback | None,
    state: dict,
) -> Iterator[Segment]:
    report = progress or no_progress
    count = 0
    for item in events:
        if isinstance(item, SourceDone):
            if item.error is not None:
                raise item.error
            state["duration"] = item.duration
            report(item.duration, item.duration)
            continue
        segments = _to_segments(item, thresholds, count)
        count += len(segments)
        yield from segments
        report(item.chunk.original_end, total)


def _to_segments(item: Decoded, thresholds: SuspectThresholds, first_id: int) -> list[Segment]:
    """Typed segments of one decoded chunk, with suspect reasons and ids continuing on."""
    segments = []
    for raw in item.segments:
        text = raw["text"].strip()
        words = tuple(
            Word(float(w["start"]), float(w["end"]), w["word"], round(float(w["probability"]), 4))
            for w in raw["words"]
        )
        reasons = suspect_reasons(
            text,
            raw["start"],
            raw["end"],
            avg_logprob=raw["avg_logprob"],
            compression_ratio=raw["compression_ratio"],
            no_speech_prob=raw["no_speech_prob"],
            speech=item.chunk.speech,
            thresholds=thresholds,
        )
        segments.append(
            Segment(
                id=first_id + len(segments) + 1,
                start=float(raw["start"]),
                end=float(raw["end"]),
                text=text,
                words=words,
                avg_logprob=round(float(raw["avg_logprob"]), 4),
                compression_ratio=round(float(raw["compression_ratio"]), 4),
                no_speech_prob=round(float(raw["no_speech_prob"]), 4),
                suspect_reasons=reasons,
            )
        )
    return segments
