"""Folder transcription on a Ray cluster: :class:`RayTranscriber` decodes on an actor pool.

It stands in for a loaded :class:`~polymodal.speech.transcriber.Transcriber` (it has the same
``transcribe_many``), so ``folders.write_transcripts`` runs unchanged around it: the driver
still walks the inputs, skips files whose outputs are up to date, writes each file's outputs
with the one atomic writer as its result arrives, reports progress (in files) and bad files in
the same :class:`~polymodal.speech.folders.FolderReport`, and stops between files when
cancelled. Only the decoding moves. Each actor loads the Whisper model once (its name, device
and the options travel as plain data) and sends each transcript back as JSON
(``render.to_data``, read back with ``render.from_data``); outputs are rendered and written on
the driver, so the cluster needs no shared folder for them.

What a cluster needs: every node reads the recordings at the driver's absolute paths (a shared
mount, or a local cluster) and has polymodal with the model (a catalogue name installed on the
node, or a model folder at the same path).

Parity with the local path: a file's transcript is the same bytes wherever it is decoded,
since its words do not depend on which files share its encoder pass (windows are batched by
the encoder context each would get alone, ``engine._decode_windows``; before that, "milk and
eggs" became "milk and then" beside a 16 s file).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from polymodal import catalog, errors
from polymodal.errors import BadInputError, PolymodalError
from polymodal.progress import CancelToken, ProgressCallback, Reporter
from polymodal.render import from_data, to_data
from polymodal.scale import connect, map_with_actors
from polymodal.speech.options import DecodeOptions, SpeakerOptions
from polymodal.speech.results import Transcript
from polymodal.speech.transcriber import AudioInput, Result, Transcriber

CPUS_PER_ACTOR = 2.0
"""CPU threads one actor decodes with (the thread count does not change the words)."""
MEMORY_PER_ACTOR = 2 * 2**30
"""What one actor reserves: whisper-base int8 peaked at 1.8 GiB on a 52 s passage."""


class RayTranscriber:
    """A Whisper model run by a pool of Ray actors, for ``write_transcripts(model=...)``.

    ``model`` is a catalogue name or a model folder (``None``: the configured default, read
    here on the driver); a loaded model cannot travel, since each actor loads its own once.
    ``address`` is where the cluster is (see :func:`polymodal.scale.connect`: ``None`` a local
    one, ``"auto"``, ``"ray://head:10001"``); nothing connects until there is work, so a
    folder whose outputs are all up to date never starts Ray. The pool has an actor per GPU
    where the cluster has GPUs, else as many as ``cpus_per_actor`` and ``memory_per_actor``
    allow.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        compute_type: str | None = None,
        address: str | None = None,
        cpus_per_actor: float = CPUS_PER_ACTOR,
        memory_per_actor: int | None = MEMORY_PER_ACTOR,
    ) -> None:
        self.model = _model_name(model)
        self.device = device
        self.compute_type = compute_type
        self.address = address
        self.cpus_per_actor = cpus_per_actor
        self.memory_per_actor = memory_per_actor

    def transcribe_many(
        self,
        sources: Sequence[AudioInput],
        options: DecodeOptions | None = None,
        *,
        speakers: SpeakerOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[tuple[int, Result]]:
        """Yields ``(index, transcript or error)`` as each file completes on the cluster, as
        ``Transcriber.transcribe_many`` does (files only: a waveform cannot be shipped by
        path). Progress counts files; ``cancel`` is checked as each result arrives, and
        stopping the iteration stops the pool."""
        paths = [_file(source) for source in sources]
        if not paths:
            return
        options = options or DecodeOptions()
        ray = connect(self.address)
        rows = [{"position": i, "path": os.path.abspath(p), "name": p} for i, p in enumerate(paths)]
        results = map_with_actors(
            ray.data.from_items(rows),
            _TranscribeActor,
            constructor_kwargs=self._actor_kwargs(options, speakers),
            items=len(rows),
            batch_size=options.batch_size,
            cpus=self.cpus_per_actor,
            memory=self.memory_per_actor,
            gpus=self.device in ("auto", "cuda"),
        )
        report = Reporter(progress, "transcribe", "files", cancel)  # checks ``cancel`` too
        for done, row in enumerate(results.iter_rows(), start=1):
            report(done, len(rows))
            yield int(row["position"]), _unpack(row["result"])

    def transcribe(
        self,
        audio: AudioInput,
        options: DecodeOptions | None = None,
        *,
        speakers: SpeakerOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Transcript:
        """One file's transcript, decoded on the cluster; raises its error (a stand-in for
        ``Transcriber.transcribe``, so ``transcribe_files`` also takes this model)."""
        for _, result in self.transcribe_many([audio], options, speakers=speakers, cancel=cancel):
            if isinstance(result, PolymodalError):
                raise result
            return result
        raise AssertionError("a run over one input yields one result")  # pragma: no cover

    def _actor_kwargs(self, options: DecodeOptions, speakers: SpeakerOptions | None) -> dict:
        """What every actor is built from, as plain data (enrolment clips by absolute path,
        since actors run in another directory)."""
        if speakers is not None:
            enroll = {name: Path(clip).absolute() for name, clip in speakers.enroll.items()}
            speakers = replace(speakers, enroll=enroll)
        return {
            "model": self.model,
            "device": self.device,
            "compute_type": self.compute_type,
            "threads": max(1, int(self.cpus_per_actor)),
            "options": to_data(options),
            "speakers": None if speakers is None else to_data(speakers),
        }


def _model_name(model: Any) -> str:
    """The model as every node can name it: a catalogue name, or a folder's absolute path."""
    if model is not None and not isinstance(model, str | os.PathLike):
        raise BadInputError(
            "On Ray each actor loads the model itself: give its catalogue name or folder, "
            "not a loaded model.",
            param="model",
        )
    name = str(model) if model else catalog.default_model("whisper")
    return str(Path(name).expanduser().absolute()) if Path(name).expanduser().exists() else name


def _file(source: AudioInput) -> str:
    if not isinstance(source, str | os.PathLike):
        raise BadInputError("On Ray only files can be transcribed, not waveforms.", param="audio")
    return str(source)


class _TranscribeActor:
    """One actor of the pool: loads the model once, then transcribes each batch of files.

    A batch's files share encoder passes (``Transcriber.transcribe_many``), as on one machine.
    Files are read at their absolute paths and named as the caller named them, so transcripts
    and error sentences read as the local path's do. An error that fails every file alike (the
    model cannot load, an option the model refuses, a bad enrolment clip) is sent back as the
    run's error, which the driver raises, as the local path raises it before any file: raised
    here, Ray would only report that an actor died.
    """

    def __init__(self, model, device, compute_type, threads, options, speakers) -> None:
        self._failure: PolymodalError | None = None
        try:
            self._transcriber = Transcriber(
                model, device=device, compute_type=compute_type, threads=threads
            )
            self._options = from_data(DecodeOptions, options)
            self._speakers = None if speakers is None else from_data(SpeakerOptions, speakers)
        except PolymodalError as exc:
            self._failure = exc

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        paths, names = [str(p) for p in batch["path"]], [str(n) for n in batch["name"]]
        try:
            packed = self._transcribe(paths, names)
        except PolymodalError as exc:
            packed = [_pack_error(exc, fatal=True)] * len(paths)
        return {"position": batch["position"], "result": np.array(packed, dtype=object)}

    def _transcribe(self, paths: list[str], names: list[str]) -> list[str]:
        if self._failure is not None:
            raise self._failure
        packed = [_pack_error(_not_on_node(name)) for name in names]
        here = [i for i, path in enumerate(paths) if os.path.exists(path)]
        done = self._transcriber.transcribe_many(
            [paths[i] for i in here], self._options, speakers=self._speakers
        )
        for position, result in done:
            index = here[position]
            packed[index] = _pack(result, paths[index], names[index])
        return packed


def _not_on_node(name: str) -> BadInputError:
    """The sentence for a file the driver has and this node does not."""
    return BadInputError(
        f"{name} is not on the Ray node {platform.node()}: every node must see the recordings "
        "at the driver's paths (a shared mount).",
        param="inputs",
    )


def _pack(result: Result, path: str, name: str) -> str:
    """A file's result as JSON text, the file named as the caller gave it."""
    if isinstance(result, PolymodalError):
        return _pack_error(result, str(result).replace(path, name))
    return json.dumps({"transcript": to_data(replace(result, source=name))})


def _pack_error(error: PolymodalError, message: str | None = None, fatal: bool = False) -> str:
    data = {"type": type(error).__name__, "param": error.param, "message": message or str(error)}
    return json.dumps({"fatal" if fatal else "error": data})


def _unpack(text: str) -> Result:
    """:func:`_pack`'s JSON back as a :class:`Transcript` or a file's error; raises the run's
    error (one that fails every file) as the local path would."""
    data = json.loads(text)
    if "transcript" in data:
        return from_data(Transcript, data["transcript"])
    error = _error(data.get("error") or data["fatal"])
    if "fatal" in data:
        raise error
    return error


def _error(data: dict[str, Any]) -> PolymodalError:
    """The error of the class that was raised (``BadInputError`` ...), where polymodal has it."""
    kind = getattr(errors, data["type"], PolymodalError)
    if not (isinstance(kind, type) and issubclass(kind, PolymodalError)):
        kind = PolymodalError
    return kind(data["message"], param=data["param"])
