"""Transcription as an API: a :class:`Transcriber` loads a model once and streams results.

Data flows one way: file → ``media.audio`` blocks → VAD speech in 30 s windows (``chunks``)
→ batched decoding (``engine``) → typed :class:`Segment` records with suspect flags
→ a :class:`Transcript`; with speakers, the same blocks and VAD regions also feed a diarization
session beside the decoder (``speakers.stream``), whose turns label the transcript.

One route serves one file and many: :meth:`Transcriber.transcribe` is
:meth:`Transcriber.transcribe_many` over a single input, with progress in seconds of audio
instead of files. Options arrive typed (:class:`DecodeOptions`, :class:`SpeakerOptions`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from polymodal import catalog
from polymodal.errors import NoSpeechError, PolymodalError
from polymodal.media.audio import SAMPLE_RATE, as_waveform, iter_audio_blocks, probe_duration
from polymodal.progress import CancelToken, ProgressCallback, Reporter, check_cancelled
from polymodal.speech.chunks import Chunk, SourceDone, speech_pieces
from polymodal.speech.coverage import intersection, seconds, uncovered, with_repairs
from polymodal.speech.engine import Decoded, WhisperEngine, decode
from polymodal.speech.options import DecodeOptions, SpeakerOptions
from polymodal.speech.results import Segment, Transcript, TranscriptionInfo
from polymodal.speech.suspect import SuspectThresholds, suspect_reasons
from polymodal.speech.tokens import DecodedSegment

AudioInput = str | os.PathLike[str] | np.ndarray
Result = Transcript | PolymodalError


def _blocks(audio: AudioInput) -> Iterator[np.ndarray]:
    if isinstance(audio, np.ndarray):
        return iter([as_waveform(audio)])
    return iter_audio_blocks(audio)


def _name(audio: AudioInput) -> str | None:
    return None if isinstance(audio, np.ndarray) else str(audio)


def _duration(audio: AudioInput) -> float | None:
    return len(audio) / SAMPLE_RATE if isinstance(audio, np.ndarray) else probe_duration(audio)


def _no_speech(audio: AudioInput | None, heard_seconds: float = 0.0) -> NoSpeechError:
    """The one sentence for a speechless input; it says so when the VAD heard something that
    gave no words, so a quiet recording is never called silent without a hint."""
    what = str(audio) if audio is not None and not isinstance(audio, np.ndarray) else "The audio"
    if heard_seconds > 0:
        return NoSpeechError(
            f"{what} contains no speech that could be transcribed: voice-activity detection "
            f"heard {heard_seconds:.1f} s that might be speech, but Whisper found no words in it "
            "(noise, or speech too faint or garbled)."
        )
    return NoSpeechError(
        f"{what} contains no speech: voice-activity detection heard only silence or noise."
    )


class Transcriber:
    """A Whisper model loaded once (through the catalogue) and reused for every input.

    ``model`` is a catalogue name (``whisper-base``, ``whisper-tiny.en`` ...) or a local
    CTranslate2 directory; ``None`` takes the configured default. ``compute_type`` (``int8``
    on CPU by default, ``float32`` for the last word of accuracy) belongs to the loaded model.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        device: str = "auto",
        compute_type: str | None = None,
        threads: int = 0,
    ) -> None:
        if compute_type in ("auto", "default"):
            compute_type = None  # one cache entry for the model whichever way "pick" is said
        self.engine: WhisperEngine = catalog.load(
            model, "whisper", device=device, compute_type=compute_type, threads=threads
        )

    @property
    def model_name(self) -> str:
        return self.engine.name

    def stream(
        self,
        audio: AudioInput,
        options: DecodeOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[Iterator[Segment], TranscriptionInfo]:
        """Segments lazily (bounded memory on hours of audio) and the info record.

        The first window is decoded before returning so the info can report the language; the
        speech heard and covered are known only at the end, so this info leaves them at zero
        (:meth:`transcribe` reports them).
        Raises :class:`BadInputError` for unreadable input (:class:`NoSpeechError` for input with
        no speech at all).
        """
        options = (options or DecodeOptions()).checked(self.engine)
        report = Reporter(progress, "transcribe", "s", cancel)
        total = _duration(audio)
        pieces = speech_pieces(_blocks(audio), options=options)
        items = with_repairs(self.engine, decode(self.engine, [pieces], options), options)
        first = next(items)
        if isinstance(first, SourceDone):
            if first.error is not None:
                raise first.error
            if options.vad:
                raise _no_speech(audio)
        collected = _Collected()
        if isinstance(first, Decoded):
            collected.language = (first.language, first.language_probability)
        info = collected.info(self.engine, options, audio, round(total or 0.0, 3))
        return _stream_segments(first, items, _thresholds(options), report, total), info

    def transcribe(
        self,
        audio: AudioInput,
        options: DecodeOptions | None = None,
        *,
        speakers: SpeakerOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Transcript:
        """The whole transcript of one input (a file, or 16 kHz samples); progress in seconds.

        ``speakers`` labels who spoke: enrolment clips are checked first (so a bad one fails
        before the expensive part), words are timed, and the voice encoder runs beside the
        decoder on the same blocks and speech regions. Raises the input's error.
        """
        run = self.transcribe_stream(
            audio, options, speakers=speakers, progress=progress, cancel=cancel
        )
        with contextlib.closing(run):
            for item in run:
                if isinstance(item, Transcript):
                    return item
        raise AssertionError("a run over one input ends in its transcript")  # pragma: no cover

    def transcribe_stream(
        self,
        audio: AudioInput,
        options: DecodeOptions | None = None,
        *,
        speakers: SpeakerOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[Segment | Transcript]:
        """:meth:`transcribe`, yielding each :class:`Segment` as soon as its window is
        decoded, then the whole :class:`Transcript` last (the very one :meth:`transcribe`
        returns: labelled with ``speakers``, its segments split where voices change, with the
        speech-coverage fields that only the end can tell).

        For a caller that shows text while the rest decodes (the server's ``stream=true``).
        Unlike :meth:`stream` it keeps the segments, to build the transcript. Raises the
        input's error when it meets it, possibly after some segments; ``cancel`` is checked
        between windows.
        """
        report = Reporter(progress, "transcribe", "s", cancel)
        total = _duration(audio)

        def on_window(item: Decoded | SourceDone) -> None:
            if isinstance(item, Decoded):
                report(item.chunk.original_end, total)
            elif item.error is None:
                report(item.duration, item.duration)

        run = self._run([audio], options, speakers, cancel, on_window, segments=True)
        with contextlib.closing(run):
            for _, result in run:
                if isinstance(result, PolymodalError):
                    raise result
                yield result

    def transcribe_many(
        self,
        sources: Sequence[AudioInput],
        options: DecodeOptions | None = None,
        *,
        speakers: SpeakerOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[tuple[int, Result]]:
        """Transcribe many inputs in one batched stream: the current windows of up to
        ``batch_size`` files share each encoder and decoder pass. Yields ``(index, transcript
        or error)`` as each input completes (not necessarily in input order); a bad input
        yields its error and the others go on. Progress counts files; ``cancel`` is checked
        between windows.
        """
        report = Reporter(progress, "transcribe", "files", cancel)
        finished = 0
        with contextlib.closing(self._run(sources, options, speakers, cancel)) as run:
            for index, result in run:
                finished += 1
                report(finished, len(sources))
                yield index, result

    def _run(
        self,
        sources: Sequence[AudioInput],
        options: DecodeOptions | None,
        speakers: SpeakerOptions | None,
        cancel: CancelToken | None,
        on_window: Callable[[Decoded | SourceDone], None] | None = None,
        segments: bool = False,
    ) -> Iterator[tuple[int, Result | Segment]]:
        """The one decoding route: every source's pieces through :func:`decode`, collected
        into transcripts (and labelled with speakers) as each source ends; with
        ``segments``, each source's segments are yielded too, as their windows decode."""
        options = (options or DecodeOptions()).checked(self.engine)
        if speakers is not None:
            options = replace(options, word_timestamps=True)
        thresholds = _thresholds(options)
        with _labeller(speakers) as labeller:
            streams = (
                _source_pieces(i, source, options, labeller) for i, source in enumerate(sources)
            )
            collected: dict[int, _Collected] = {}
            decoded = with_repairs(self.engine, decode(self.engine, streams, options), options)
            for item in decoded:
                check_cancelled(cancel)
                if on_window is not None:
                    on_window(item)
                if isinstance(item, Decoded):
                    collecting = collected.setdefault(item.chunk.source, _Collected())
                    added = collecting.add(item, thresholds)
                    if segments:
                        yield from ((item.chunk.source, segment) for segment in added)
                    continue
                found = collected.pop(item.source, _Collected())
                yield item.source, self._finish(item, found, sources, options, labeller)

    def _finish(self, done: SourceDone, found, sources, options, labeller) -> Result:
        source = sources[done.source]
        # Nothing decoded to text at all: the VAD's blips in pure noise (pink noise, 1 draw in
        # 6 at 0.25 on levelled audio) must not make an empty transcript of a speechless file.
        if done.error is not None or (options.vad and not found.segments):
            if labeller is not None:
                labeller.discard(done.source)
            heard = sum(end - start for start, end in done.regions)
            return done.error or _no_speech(source, heard)
        info = found.info(self.engine, options, source, done.duration, done.regions)
        transcript = Transcript.of(info, tuple(found.segments))
        if labeller is None:
            return transcript
        try:
            return labeller.label(done.source, transcript)
        except PolymodalError as exc:
            return exc


def as_transcriber(
    model: Transcriber | str | os.PathLike[str] | None,
    *,
    device: str = "auto",
    compute_type: str | None = None,
) -> Transcriber:
    """``model`` itself when it is a loaded :class:`Transcriber` (or a stand-in for one), else
    the catalogue's model of that name loaded once per process."""
    if model is None or isinstance(model, str | os.PathLike):
        return Transcriber(model, device=device, compute_type=compute_type)
    return model


@contextlib.contextmanager
def _labeller(speakers: SpeakerOptions | None):
    if speakers is None:
        yield None
        return
    from polymodal.speech.speakers.stream import StreamingLabeller

    with StreamingLabeller(speakers) as labeller:
        yield labeller


@dataclass
class _Collected:
    """One source's decoding so far: its segments, windows decoded, and language."""

    segments: list[Segment] = field(default_factory=list)
    windows: int = 0
    language: tuple[str, float] | None = None

    def add(self, item: Decoded, thresholds: SuspectThresholds) -> list[Segment]:
        """Take one decoded window; its new segments."""
        self.windows += 1
        self.language = self.language or (item.language, item.language_probability)
        added = _to_segments(item, thresholds, len(self.segments))
        self.segments.extend(added)
        return added

    def info(
        self, engine, options: DecodeOptions, source, duration: float, heard=()
    ) -> TranscriptionInfo:
        """The header record; with the speech ``heard`` (the source's VAD regions) it also
        says how much of it the text covers and which stretches got none."""
        language, probability = self.language or (options.language or "en", 0.0)
        spans = [(s.start, s.end) for s in self.segments]
        missing = tuple(uncovered(heard, spans))
        return TranscriptionInfo(
            language=language,
            language_probability=probability,
            duration=duration,
            model=engine.name,
            task=options.task,
            source=_name(source),
            speech_seconds=round(seconds(heard), 2),
            covered_seconds=round(seconds(intersection(heard, spans)), 2),
            speech_regions=tuple(heard),
            untranscribed_speech=missing,
            warnings=_warnings(missing),
        )


def _warnings(missing: tuple[tuple[float, float], ...]) -> tuple[str, ...]:
    """One line a user reads when heard speech got no text even when decoded again."""
    if not missing:
        return ()
    total = sum(end - start for start, end in missing)
    where = ", ".join(f"{start:.1f}-{end:.1f} s" for start, end in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (
        f"{total:.1f} s of speech got no text even when decoded again ({len(missing)} "
        f"stretch{'es' if len(missing) > 1 else ''}: {where}{more}).",
    )


def _thresholds(options: DecodeOptions) -> SuspectThresholds:
    return SuspectThresholds(
        compression_ratio=options.compression_ratio_threshold,
        log_prob=options.log_prob_threshold,
        no_speech=options.no_speech_threshold,
    )


def _source_pieces(index: int, source: AudioInput, options: DecodeOptions, labeller) -> Iterator:
    """One source's speech pieces (heard by the labeller too, when there is one); a source
    that fails to decode ends in a :class:`SourceDone` with its error."""
    try:
        on_speech = labeller.listener(index) if labeller is not None else None
        yield from speech_pieces(_blocks(source), index, options, on_speech=on_speech)
    except PolymodalError as exc:
        yield SourceDone(index, error=exc)


def _stream_segments(first, items, thresholds, report: Reporter, total) -> Iterator[Segment]:
    count = 0
    for item in itertools.chain([first], items):
        if isinstance(item, SourceDone):
            if item.error is not None:
                raise item.error
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
        text = raw.text.strip()
        segments.append(
            Segment(
                id=first_id + len(segments) + 1,
                start=float(raw.start),
                end=float(raw.end),
                text=text,
                words=raw.words,
                avg_logprob=round(float(raw.avg_logprob), 4),
                compression_ratio=round(float(raw.compression_ratio), 4),
                no_speech_prob=round(float(raw.no_speech_prob), 4),
                suspect_reasons=_reasons(raw, text, item.chunk, thresholds),
                language=raw.language,
            )
        )
    return segments


def _reasons(raw: DecodedSegment, text: str, chunk: Chunk, thresholds: SuspectThresholds):
    return suspect_reasons(
        text,
        raw.start,
        raw.end,
        avg_logprob=raw.avg_logprob,
        compression_ratio=raw.compression_ratio,
        no_speech_prob=raw.no_speech_prob,
        speech=chunk.speech,
        thresholds=thresholds,
        loop=raw.loop,
    )
