"""Dynamic batching: concurrent requests of one model share one model call.

A CLIP text or image tower costs about as much for 32 inputs as for a few (the matrices are
small and the fixed cost of a call dominates), and Whisper decodes up to ``batch_size``
windows in one encoder and decoder pass. So requests that arrive together are gathered by a
:class:`Batcher` and run as one call; each request gets its own result back, in order.

When to run a batch (per lane, a thread that runs one batch at a time):

* the model is idle and as many requests wait as the last batch held: at once, so a lone
  client never waits for company it will not get;
* otherwise the batch waits for more to arrive (the clients of the last batch sending their
  next request), until it holds ``max_size`` inputs or for at most ``max_wait_s``, counted
  from the later of its oldest request and the end of the last batch, and never longer than
  a quarter of the last batch's run (the wait costs latency in proportion to the model's
  speed). Without that wait a lane that frees up takes the few requests left over from the
  last batch alone, and batches alternate between a few and many (measured: 3, 29, 3, 29 at
  32 clients, slower than no batching);
* while every lane is busy, requests simply gather for the next free one.

One bad input never fails its batch-mates: a batch call that raises is run again one request
at a time, so only the request at fault gets the error. A request whose client went away
before its batch started is dropped from the batch.

:class:`Embedder` batches CLIP texts and preprocessed images; :class:`Transcriptions` batches
short clips through :meth:`polymodal.Transcriber.transcribe_many`, the folder run's path,
whose windows of several files share each pass (a clip's words do not depend on its
batch-mates). With ``ServerSettings.batching`` off both run each request alone, as the
benchmark's baseline does.

Measured (``bench/server.py``, 2 shared Zen 3 cores): where the model is compute-bound,
batching gains what the model gains, no more. ViT-B/32's text tower on ONNX costs 12.9 ms a
text at batch 32 against 14.7 at batch 1, so 32 concurrent clients got 0.96x the requests/s
of unbatched serving; Whisper base on 2-3 s clips at concurrency 8, 0.82x. The gain is where a
call's fixed cost dominates (an accelerator, small models).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, TimeoutError
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

import polymodal
from polymodal.errors import BadInputError, BusyError
from polymodal.server.settings import FamilyLimits, ServerSettings

log = logging.getLogger("polymodal.server")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

#: A batch call: ``(key, items)`` to ``(index into items, result or error)`` pairs, in any
#: order and as they are ready (a short clip's transcript before a long one's).
BatchRun = Callable[[Any, list[Any]], Iterable[tuple[int, Any]]]
#: Told each batch's family and size (inputs) as it runs: the metrics' batch-size histogram.
Observer = Callable[[str, int], None]

#: Transcriptions longer than this run in a batch of their own: a short clip should not
#: wait behind a long file's later windows.
SHORT_CLIP_S = 30.0
#: The most a batch waits for company, as a share of the last batch's run time.
WAIT_SHARE = 0.25
#: How often a transcription waiting for its batch looks at its cancel token.
_CANCEL_POLL_S = 0.1


def metrics_observer() -> Observer | None:
    """``polymodal.server.metrics.observe_batch(family, size)`` when the metrics module has
    it (``/metrics``' batch sizes); without it batches are simply not reported."""
    try:
        from polymodal.server import metrics
    except ImportError:
        return None
    return getattr(metrics, "observe_batch", None)


@dataclass
class _Waiting:
    item: Any
    size: int
    future: Future
    arrived: float = field(default_factory=time.monotonic)


class Batcher(Generic[K, T, R]):
    """Gathers concurrent :meth:`submit` calls of one key into calls of ``run``.

    ``max_size`` bounds the inputs one call takes (an item larger than that runs alone);
    ``lanes`` batches run at once, each on its own thread.
    """

    def __init__(
        self,
        family: str,
        run: BatchRun,
        *,
        max_size: int,
        max_wait_s: float,
        lanes: int = 1,
        observe: Observer | None = None,
    ) -> None:
        if max_size < 1 or max_wait_s < 0 or lanes < 1:
            raise BadInputError(
                "A batch needs room for one input, a wait of zero or more and one lane.",
                param="batching",
            )
        self.family = family
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._run_batch = run
        self._observe = observe if observe is not None else metrics_observer()
        self._ready = threading.Condition()
        self._waiting: dict[K, deque[_Waiting]] = {}
        self._in_flight = 0
        self._expected = 1  # requests the last batch held: how many the load brings at once
        self._freed_at = 0.0  # when the last batch ended
        self._last_run_s = 0.0  # how long it ran
        self._closed = False
        self._lane_count = lanes
        self._lanes: list[threading.Thread] = []  # started by the first request

    def submit(self, key: K, item: T, size: int = 1) -> Future[R]:
        """Queue ``item`` (``size`` inputs) for the next batch of ``key``; its future gets
        the item's own result or error."""
        future: Future[R] = Future()
        with self._ready:
            if self._closed:
                raise BusyError(f"The {self.family} batches are shutting down.")
            if not self._lanes:
                self._start_lanes()
            self._waiting.setdefault(key, deque()).append(_Waiting(item, size, future))
            self._ready.notify()
        return future

    def _start_lanes(self) -> None:
        for i in range(self._lane_count):
            name = f"pm-{self.family}-batch{i}"
            lane = threading.Thread(target=self._lane, name=name, daemon=True)
            lane.start()
            self._lanes.append(lane)

    def shutdown(self) -> None:
        """Run what is waiting at once, then stop the lanes (shutdown drains)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for lane in self._lanes:
            lane.join()

    # --- the lanes -----------------------------------------------------------------------

    def _lane(self) -> None:
        while (batch := self._next()) is not None:
            key, entries = batch
            started = time.monotonic()
            try:
                self._run(key, entries)
            finally:
                with self._ready:
                    self._in_flight -= 1
                    self._freed_at = time.monotonic()
                    self._last_run_s = self._freed_at - started
                    self._ready.notify_all()

    def _next(self) -> tuple[K, list[_Waiting]] | None:
        """The next batch to run, waiting as the policy above says; ``None`` once closed."""
        with self._ready:
            while True:
                key = self._oldest()
                if key is None:
                    if self._closed:
                        return None
                    self._ready.wait()
                    continue
                wait = 0.0 if self._closed else self._wait_left(self._waiting[key])
                if wait <= 0:
                    entries = self._take(key)
                    if entries:
                        self._in_flight += 1
                        self._expected = len(entries)
                        return key, entries
                    continue
                self._ready.wait(wait)

    def _oldest(self) -> K | None:
        if not self._waiting:
            return None
        return min(self._waiting, key=lambda k: self._waiting[k][0].arrived)

    def _wait_left(self, queue: deque[_Waiting]) -> float:
        """Seconds this key's batch should still wait for company (0: run it now)."""
        if sum(entry.size for entry in queue) >= self.max_size:
            return 0.0
        if self._in_flight == 0 and len(queue) >= self._expected:
            return 0.0
        budget = min(self.max_wait_s, WAIT_SHARE * self._last_run_s)
        return max(queue[0].arrived, self._freed_at) + budget - time.monotonic()

    def _take(self, key: K) -> list[_Waiting]:
        """Up to ``max_size`` inputs of ``key``'s queue, oldest first; requests cancelled
        while they waited are dropped."""
        queue = self._waiting[key]
        entries: list[_Waiting] = []
        total = 0
        while queue and (not entries or total + queue[0].size <= self.max_size):
            entry = queue.popleft()
            if entry.future.set_running_or_notify_cancel():
                entries.append(entry)
                total += entry.size
        if not queue:
            del self._waiting[key]
        return entries

    def _run(self, key: K, entries: list[_Waiting]) -> None:
        """One batch call; on a failure of the whole call, each request again on its own."""
        self._report(sum(entry.size for entry in entries))
        pending = dict(enumerate(entries))
        try:
            for index, result in self._run_batch(key, [entry.item for entry in entries]):
                _settle(pending.pop(index).future, result)
        except Exception as exc:
            if len(entries) == 1:
                _settle(entries[0].future, exc)
                return
            log.info("a %s batch of %d failed; running each alone", self.family, len(entries))
            for entry in pending.values():
                self._run(key, [entry])
            return
        for entry in pending.values():  # a run that forgot an item must not hang its request
            _settle(entry.future, RuntimeError("The batch gave no result for this input."))

    def _report(self, size: int) -> None:
        """Tell the metrics a batch's size; a failing observer never fails the batch."""
        if self._observe is None:
            return
        try:
            self._observe(self.family, size)
        except Exception:
            log.exception("the batch-size observer failed")


def _settle(future: Future, result: Any) -> None:
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


# --- embeddings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedTexts:
    """One request's text vectors (input order) and the tokens they took."""

    vectors: np.ndarray
    tokens: int


def embed_text_batch(encoder: Any, jobs: list[Sequence[str]]) -> Iterable[tuple[int, Any]]:
    """Every job's texts through one :func:`polymodal.embed_texts` call (repeated texts are
    encoded once), split back per job."""
    texts = [text for job in jobs for text in job]
    vectors = polymodal.embed_texts(texts, model=encoder, cache=False)
    _, mask = encoder.tokenize(texts)
    tokens = mask.sum(axis=1)
    start = 0
    for index, job in enumerate(jobs):
        end = start + len(job)
        yield index, EmbeddedTexts(vectors[start:end], int(tokens[start:end].sum()))
        start = end


def embed_pixel_batch(encoder: Any, jobs: list[np.ndarray]) -> Iterable[tuple[int, Any]]:
    """Every job's preprocessed images through one ``encode_pixels`` call, split back."""
    vectors = encoder.encode_pixels(np.concatenate(jobs))
    start = 0
    for index, job in enumerate(jobs):
        yield index, vectors[start : start + len(job)]
        start += len(job)


class Embedder:
    """CLIP texts and images, batched across requests (or alone when batching is off).

    Batches never mix encoders or kinds: the key is (kind, encoder). Blocking for the
    caller's thread when batching is off; await :meth:`texts` / :meth:`pixels` either way.
    """

    def __init__(self, settings: ServerSettings, observe: Observer | None = None) -> None:
        self.enabled = settings.batching
        self._batcher: Batcher | None = None
        if settings.batching:
            self._batcher = Batcher(
                "embedding",
                self._run,
                max_size=settings.embedding_batch_max,
                max_wait_s=settings.embedding_batch_wait_ms / 1000,
                lanes=1,  # the encoder's threads use every core; a second lane halves batches
                observe=observe,
            )

    @staticmethod
    def _run(key: tuple[str, Any], jobs: list[Any]) -> Iterable[tuple[int, Any]]:
        kind, encoder = key
        if kind == "text":
            load = jobs[0][0]
            return embed_text_batch(load(), [texts for _, texts in jobs])
        return embed_pixel_batch(encoder, jobs)

    def submit_texts(
        self, name: str | None, load: Callable[[], Any], texts: Sequence[str]
    ) -> Future[EmbeddedTexts]:
        """The texts' vectors, from the next text batch of model ``name``; ``load()`` gives
        its encoder, called on the batch's thread (the first request of a model loads it)."""
        assert self._batcher is not None, "batching is off"
        return self._batcher.submit(("text", name), (load, list(texts)), len(texts))

    def submit_pixels(self, encoder: Any, pixels: np.ndarray) -> Future[np.ndarray]:
        """The preprocessed images' vectors, from the next image batch of ``encoder``."""
        assert self._batcher is not None, "batching is off"
        return self._batcher.submit(("image", encoder), pixels, len(pixels))

    def shutdown(self) -> None:
        if self._batcher is not None:
            self._batcher.shutdown()


# --- transcriptions --------------------------------------------------------------------------


def transcribe_batch(key: tuple[int, Any], jobs: list[Any]) -> Iterable[tuple[int, Any]]:
    """Clips of one model and one set of options through the folder run's batched path;
    each clip's transcript (or its own error) as soon as it is done."""
    _, options = key
    transcriber = jobs[0][0]
    yield from transcriber.transcribe_many([path for _, path in jobs], options)


class Transcriptions:
    """Transcriptions through shared decoder batches (one at a time when batching is off).

    Clips share a batch only with clips of the same model and the same options (language,
    prompt, task, timestamps): one decoding run has one set of options.

    With batching the speech pool has more threads than ``workers`` (a batch's clips wait on
    them), so Whisper's share of the machine is kept by :meth:`slot`: ``workers`` decoding
    runs at a time, batches and the requests that run alone (diarized, streamed) together.
    """

    def __init__(self, settings: ServerSettings, observe: Observer | None = None) -> None:
        self.max_size = polymodal.DecodeOptions().batch_size
        self._slots = threading.BoundedSemaphore(settings.speech.workers)
        self._batcher: Batcher | None = None
        if settings.batches_speech():
            self._batcher = Batcher(
                "speech",
                self._run,
                max_size=self.max_size,
                max_wait_s=settings.speech_batch_wait_ms / 1000,
                lanes=settings.speech.workers,
                observe=observe,
            )

    def transcribe(
        self,
        transcriber: Any,
        path: Path,
        options: Any,
        *,
        speakers: Any = None,
        cancel: polymodal.CancelToken | None = None,
        duration: float | None = None,
    ) -> polymodal.Transcript:
        """``transcriber.transcribe(path, options)``, in a batch with the clips that arrive
        with it. Blocking: call it from a speech worker. Raises the clip's own error.

        Diarized requests run alone (their voice encoder follows one file). ``cancel``
        withdraws a clip still waiting for its batch; one already decoding with others
        finishes for them, and this request is answered as cancelled.
        """
        if self._batcher is None or speakers is not None:
            with self.slot():
                return transcriber.transcribe(path, options, speakers=speakers, cancel=cancel)
        if duration is None:
            duration = polymodal.probe_audio(path) or 0.0
        size = 1 if duration <= SHORT_CLIP_S else self.max_size
        key = (id(transcriber.engine), options)
        future = self._batcher.submit(key, (transcriber, path), size)
        while True:
            try:
                return future.result(timeout=_CANCEL_POLL_S)
            except TimeoutError:
                if cancel is not None and cancel.cancelled:
                    future.cancel()
                    cancel.raise_if_cancelled()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``workers`` decoding slots (blocking until one is free): wrap any
        Whisper run that does not go through :meth:`transcribe` (a streamed one) in it."""
        with self._slots:
            yield

    def _run(self, key: tuple[int, Any], jobs: list[Any]) -> Iterator[tuple[int, Any]]:
        with self.slot():
            yield from transcribe_batch(key, jobs)

    def shutdown(self) -> None:
        if self._batcher is not None:
            self._batcher.shutdown()


def speech_threads(settings: ServerSettings) -> FamilyLimits:
    """The speech pool's threads: with batching, enough to hold a whole batch of clips in
    preparation and waiting (the model work itself runs on the batch lanes, ``workers`` at
    a time); the number of requests admitted (``workers + queue``) stays the same."""
    limits = settings.speech
    if not settings.batches_speech():
        return limits
    threads = min(limits.capacity, max(limits.workers, polymodal.DecodeOptions().batch_size))
    return FamilyLimits(workers=threads, queue=limits.capacity - threads)
