"""The embedding pipeline: decode ahead in threads, run the model in lanes, yield batches.

Why a pipeline: for camera photos, decoding costs as much as the model. Worker threads decode
(at reduced JPEG scale) and resize the next images while model lanes run on the current
batches; PIL, numpy and ONNX Runtime release the GIL, so every core stays busy. Bad files
become :class:`Failure` records and the rest completes. Every vector goes through the
persistent cache, keyed by content hash, so a second run over the same photos computes nothing.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.config import settings
from polymodal.errors import BadInputError, PolymodalError
from polymodal.media.image import content_hash, load_image
from polymodal.progress import CancelToken, ProgressCallback, Reporter, check_cancelled
from polymodal.vision.cache import get_cache
from polymodal.vision.encoder import ClipEncoder, ModelRef, get_encoder
from polymodal.vision.records import Failure, ImageBatch

#: Images per batch in each model lane. Measured on 2 cores, 4000x3000 JPEGs, fp32: lanes of 8
#: 12.8 images/s, of 16 12.0, one two-thread batch of 32 11.5 (medians of 4 rounds).
LANE_BATCH = 8


def decode_workers() -> int:
    """Decoder threads: as many as cores, two to four.

    The decoder and the model share the cores; the OS balances them better than a fixed split.
    Measured on 2 cores with 4000x3000 JPEGs: 1 decoder thread 8.4 images/s, 2 threads 10.9,
    3 threads 11.3 (fp32 ONNX); int8 16.1 with 2.
    """
    return max(2, min(4, settings().threads or os.cpu_count() or 1))


# --- images -----------------------------------------------------------------------------------


def _decoder(encoder: ClipEncoder) -> Callable[[str], Any]:
    """Path -> what the encoder's batch step takes: resized uint8 pixels, or a PIL image."""
    preprocessor = getattr(encoder, "preprocessor", None)
    min_side = getattr(encoder, "min_side", None)
    if preprocessor is None:  # an encoder without the split steps: hand it whole images
        return lambda path: load_image(path)
    return lambda path: preprocessor.resized(load_image(path, min_side=min_side))


def _encode_batch(encoder: ClipEncoder, items: list[Any]) -> np.ndarray:
    preprocessor = getattr(encoder, "preprocessor", None)
    if preprocessor is None or not isinstance(items[0], np.ndarray):
        return encoder.encode_images(items)
    pixels = preprocessor.normalise(np.stack(items))
    if getattr(encoder, "lanes", 1) > 1:
        return encoder.encode_pixels_one_core(pixels)
    return encoder.encode_pixels(pixels)


def _decoded(paths: Sequence[str], decode: Callable[[str], Any]) -> Iterator[tuple[int, Any]]:
    """``(index, pixels or Failure)`` in input order, decoding ahead in a thread pool."""
    ahead = 2 * decode_workers() + 8
    with ThreadPoolExecutor(decode_workers(), thread_name_prefix="polymodal-decode") as pool:
        pending: deque[tuple[int, Future]] = deque()
        upcoming = iter(enumerate(paths))
        for index, path in upcoming:
            pending.append((index, pool.submit(decode, path)))
            if len(pending) >= ahead:
                break
        while pending:
            index, future = pending.popleft()
            nxt = next(upcoming, None)
            if nxt is not None:
                pending.append((nxt[0], pool.submit(decode, nxt[1])))
            try:
                yield index, future.result()
            except PolymodalError as exc:
                yield index, Failure(paths[index], str(exc))
            except Exception as exc:  # never let one file stop a folder
                yield index, Failure(paths[index], f"'{paths[index]}' failed to decode: {exc}")


def _hashes(paths: Sequence[str]) -> list[str | Failure]:
    def one(path: str) -> str | Failure:
        try:
            return content_hash(path)
        except BadInputError as exc:
            return Failure(path, str(exc))

    with ThreadPoolExecutor(decode_workers()) as pool:
        return list(pool.map(one, paths))


class _Run:
    """The state of one embedding run: per-input cache keys, and what has been reported.

    Each step yields :class:`ImageBatch` records as work finishes; nothing is kept per image
    beyond the cache keys and the vectors of first copies (so repeats can share them).
    """

    def __init__(
        self,
        paths: list[str],
        encoder: ClipEncoder,
        store: Any,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        self.paths = paths
        self.encoder = encoder
        self.store = store
        self.cancel = cancel
        self.reporter = Reporter(progress, "embed", "images", cancel)
        self.keys: list[str | None] = [None] * len(paths)
        self.first_of: dict[str, int] = {}
        self.vector_of: dict[str, np.ndarray] = {}  # first copies' vectors, when repeats wait
        self.reason_of: dict[str, str] = {}  # first copies' decode failures, likewise
        self.repeats: list[int] = []
        self.done = 0

    def batch(
        self,
        vectors: dict[int, np.ndarray],
        failures: dict[int, Failure],
        *,
        computed: int = 0,
        cached: int = 0,
    ) -> ImageBatch:
        """A record of finished inputs; advances progress (and checks the cancel token)."""
        order = sorted(vectors)
        matrix = (
            np.stack([vectors[i] for i in order]).astype(np.float32)
            if order
            else np.zeros((0, self.encoder.dim), dtype=np.float32)
        )
        self.done += len(vectors) + len(failures)
        self.reporter(self.done, len(self.paths))
        return ImageBatch(
            positions=tuple(order),
            paths=tuple(self.paths[i] for i in order),
            vectors=matrix,
            failure_positions=tuple(sorted(failures)),
            failures=tuple(failures[i] for i in sorted(failures)),
            model_id=self.encoder.model_id,
            computed=computed,
            cached=cached,
        )

    def from_cache(self) -> tuple[list[int], ImageBatch]:
        """Hash every file and take what the cache has: the indices left to compute (one per
        distinct content) and a batch of the hits and unreadable files."""
        failures: dict[int, Failure] = {}
        for index, key in enumerate(_hashes(self.paths)):
            if isinstance(key, Failure):
                failures[index] = key
            else:
                self.keys[index] = key
        found = self.store.get_images(self.encoder.model_id, [k for k in self.keys if k])
        hits: dict[int, np.ndarray] = {}
        todo: list[int] = []
        for index, key in enumerate(self.keys):
            if key is None:
                continue
            if key in found:
                hits[index] = found[key]
            elif key not in self.first_of:  # the same bytes twice in one call: embed once
                self.first_of[key] = index
                todo.append(index)
            else:
                self.repeats.append(index)
        return todo, self.batch(hits, failures, cached=len(hits))

    def compute(self, todo: list[int], batch_size: int) -> Iterator[ImageBatch]:
        """Decode ``todo`` ahead in threads while the model runs on batches in its lanes;
        yield each batch as it is stored."""
        decode = _decoder(self.encoder)
        lanes = max(1, getattr(self.encoder, "lanes", 1))
        size = min(batch_size, LANE_BATCH) if lanes > 1 else batch_size
        batch: list[tuple[int, Any]] = []
        failed: dict[int, Failure] = {}
        running: deque[tuple[list[tuple[int, Any]], Future]] = deque()
        with ThreadPoolExecutor(lanes, thread_name_prefix="polymodal-model") as model:
            for position, item in _decoded([self.paths[i] for i in todo], decode):
                index = todo[position]
                if isinstance(item, Failure):
                    failed[index] = item
                    if self.repeats:
                        self.reason_of[str(self.keys[index])] = item.reason
                    continue
                batch.append((index, item))
                if len(batch) >= size:
                    check_cancelled(self.cancel)
                    running.append(self._submit(model, batch))
                    batch = []
                while len(running) > lanes:  # one batch waits ready for the first free lane
                    yield self._store(*running.popleft(), failed)
                    failed = {}
            if batch:
                running.append(self._submit(model, batch))
            while running:
                yield self._store(*running.popleft(), failed)
                failed = {}
        if failed:
            yield self.batch({}, failed)

    def _submit(self, model: ThreadPoolExecutor, batch: list[tuple[int, Any]]) -> tuple:
        items = [pixels for _, pixels in batch]
        return batch, model.submit(_encode_batch, self.encoder, items)

    def _store(
        self, batch: list[tuple[int, Any]], vectors: Future, failed: dict[int, Failure]
    ) -> ImageBatch:
        """Write a finished batch to the cache and make its record, on the calling thread."""
        finished = {index: v for (index, _), v in zip(batch, vectors.result(), strict=True)}
        if self.store is not None:
            pairs = [(self.keys[i], v) for i, v in finished.items()]
            self.store.put_images(self.encoder.model_id, pairs)
            if self.repeats:
                self.vector_of.update((self.keys[i], v) for i, v in finished.items())
        return self.batch(finished, failed, computed=len(finished))

    def share_repeats(self) -> ImageBatch | None:
        """Files whose bytes repeat a file embedded in this call get that file's vector."""
        shared: dict[int, np.ndarray] = {}
        failures: dict[int, Failure] = {}
        for index in self.repeats:
            key = str(self.keys[index])
            if key in self.vector_of:
                shared[index] = self.vector_of[key]
            elif key in self.reason_of:  # the first copy did not decode: neither does this
                failures[index] = Failure(self.paths[index], self.reason_of[key])
        return self.batch(shared, failures) if shared or failures else None


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise BadInputError(
            f"The batch size must be at least 1, got {batch_size}.", param="batch_size"
        )


def iter_image_batches(
    images: Sequence[str | os.PathLike[str]],
    *,
    model: ModelRef = None,
    cache: bool = True,
    batch_size: int = 32,
    int8: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[ImageBatch]:
    """Embed image files with CLIP, yielding :class:`ImageBatch` records as batches finish.

    For long work that consumes results as they come (search ingest writes each batch, a
    server streams them): memory stays bounded by a few batches, and a cancelled run keeps
    every batch already yielded (and cached). Cache hits come first, in one batch; then each
    model batch; repeats of the same bytes last. Options as :func:`embed_images`.
    """
    _check_batch_size(batch_size)
    check_cancelled(cancel)
    encoder = get_encoder(model, int8)
    paths = [str(Path(p)) for p in images]
    run = _Run(paths, encoder, get_cache() if cache else None, progress, cancel)
    return _run_batches(run, batch_size)


def _run_batches(run: _Run, batch_size: int) -> Iterator[ImageBatch]:
    if run.store is not None:
        todo, hits = run.from_cache()
        if hits.paths or hits.failures:
            yield hits
    else:
        todo = list(range(len(run.paths)))
    yield from run.compute(todo, batch_size)
    repeats = run.share_repeats()
    if repeats is not None:
        yield repeats
