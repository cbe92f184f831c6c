"""Embedding many images and texts: cached, pipelined, and tolerant of bad files.

Why a pipeline: for camera photos, decoding costs as much as the model. Worker threads decode
(at reduced JPEG scale) and resize the next images while the main thread runs the model on the
current batch; PIL and numpy release the GIL, so both cores stay busy. Bad files become
:class:`Failure` records and the rest completes. Every vector goes through the persistent
cache, keyed by content hash, so a second run over the same photos computes nothing.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal import catalog
from polymodal.config import settings
from polymodal.errors import BadInputError, PolymodalError
from polymodal.media.image import content_hash, load_image
from polymodal.progress import ProgressCallback, no_progress
from polymodal.vision.cache import get_cache
from polymodal.vision.encoder import ClipEncoder


@dataclass(frozen=True)
class Failure:
    """An input that could not be embedded, and the sentence saying why."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class ImageEmbeddings:
    """Embeddings of the images that decoded, in input order; failures listed apart.

    ``vectors[i]`` belongs to ``paths[i]`` (L2-normalised float32). ``computed`` counts images
    the model ran on in this call, ``cached`` those read from the cache.
    """

    paths: tuple[str, ...]
    vectors: np.ndarray
    failures: tuple[Failure, ...]
    model_id: str
    computed: int
    cached: int

    def __len__(self) -> int:
        return len(self.paths)


def get_encoder(
    model: str | os.PathLike[str] | None = None, int8: bool | None = None
) -> ClipEncoder:
    """The shared CLIP encoder for ``model`` (default from settings) via the catalogue.

    ``int8=None`` follows ``POLYMODAL_INT8``.
    """
    use_int8 = settings().int8 if int8 is None else int8
    options: dict[str, Any] = {"int8": True} if use_int8 else {}
    return catalog.load(model, "clip", **options)


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
    """The state of one ``embed_images`` call: per-input vectors, failures and cache keys."""

    def __init__(self, paths: list[str], encoder: ClipEncoder, progress: ProgressCallback) -> None:
        self.paths = paths
        self.encoder = encoder
        self.progress = progress
        self.vectors: dict[int, np.ndarray] = {}
        self.failures: dict[int, Failure] = {}
        self.keys: list[str | None] = [None] * len(paths)
        self.computed = 0
        self.cached = 0

    def tick(self) -> None:
        self.progress(len(self.vectors) + len(self.failures), len(self.paths))

    def from_cache(self, store: Any) -> list[int]:
        """Hash every file, take what the cache has; the indices left to compute (one per
        distinct content)."""
        for index, key in enumerate(_hashes(self.paths)):
            if isinstance(key, Failure):
                self.failures[index] = key
            else:
                self.keys[index] = key
        found = store.get_images(self.encoder.model_id, [k for k in self.keys if k])
        todo: list[int] = []
        first_of: dict[str, int] = {}
        for index, key in enumerate(self.keys):
            if key is None:
                continue
            if key in found:
                self.vectors[index] = found[key]
                self.cached += 1
            elif key not in first_of:  # the same bytes twice in one call: embed once
                first_of[key] = index
                todo.append(index)
        self.tick()
        return todo

    def compute(self, todo: list[int], batch_size: int, store: Any) -> None:
        """Decode ``todo`` ahead in threads while the model runs on batches in its lanes."""
        decode = _decoder(self.encoder)
        lanes = max(1, getattr(self.encoder, "lanes", 1))
        size = min(batch_size, LANE_BATCH) if lanes > 1 else batch_size
        batch: list[tuple[int, Any]] = []
        running: deque[tuple[list[tuple[int, Any]], Future]] = deque()
        with ThreadPoolExecutor(lanes, thread_name_prefix="polymodal-model") as model:
            for position, item in _decoded([self.paths[i] for i in todo], decode):
                index = todo[position]
                if isinstance(item, Failure):
                    self.failures[index] = item
                    self.tick()
                    continue
                batch.append((index, item))
                if len(batch) >= size:
                    running.append(self._submit(model, batch))
                    batch = []
                while len(running) > lanes:  # one batch waits ready for the first free lane
                    self._store(*running.popleft(), store)
            if batch:
                running.append(self._submit(model, batch))
            while running:
                self._store(*running.popleft(), store)

    def _submit(self, model: ThreadPoolExecutor, batch: list[tuple[int, Any]]) -> tuple:
        items = [pixels for _, pixels in batch]
        return batch, model.submit(_encode_batch, self.encoder, items)

    def _store(self, batch: list[tuple[int, Any]], vectors: Future, store: Any) -> None:
        """Record a finished batch (and write it to the cache) on the calling thread."""
        for (index, _), vector in zip(batch, vectors.result(), strict=True):
            self.vectors[index] = vector
        if store is not None:
            pairs = [(self.keys[i], self.vectors[i]) for i, _ in batch]
            store.put_images(self.encoder.model_id, pairs)
        self.computed += len(batch)
        self.tick()

    def share_duplicates(self) -> None:
        """Give files whose bytes repeat an embedded file that file's vector."""
        by_key = {self.keys[i]: v for i, v in self.vectors.items()}
        for index, key in enumerate(self.keys):
            if key in by_key and index not in self.vectors and index not in self.failures:
                self.vectors[index] = by_key[key]
        self.tick()

    def result(self) -> ImageEmbeddings:
        order = sorted(self.vectors)
        vectors = (
            np.stack([self.vectors[i] for i in order]).astype(np.float32)
            if order
            else np.zeros((0, self.encoder.dim), dtype=np.float32)
        )
        return ImageEmbeddings(
            paths=tuple(self.paths[i] for i in order),
            vectors=vectors,
            failures=tuple(self.failures[i] for i in sorted(self.failures)),
            model_id=self.encoder.model_id,
            computed=self.computed,
            cached=self.cached,
        )


def embed_images(
    images: Sequence[str | os.PathLike[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    cache: bool = True,
    batch_size: int = 32,
    int8: bool | None = None,
    progress: ProgressCallback | None = None,
) -> ImageEmbeddings:
    """Embed image files with CLIP; bad files are reported in ``failures`` and skipped.

    With ``cache`` (the default) each distinct file content is embedded once per model, ever;
    ``cache=False`` neither reads nor writes the cache. ``progress`` gets ``(done, total)``
    per image.
    """
    if batch_size < 1:
        raise BadInputError(f"batch_size must be at least 1, got {batch_size}.")
    run = _Run([str(Path(p)) for p in images], get_encoder(model, int8), progress or no_progress)
    store = get_cache() if cache else None
    todo = run.from_cache(store) if store is not None else list(range(len(run.paths)))
    run.compute(todo, batch_size, store)
    if store is not None:
        run.share_duplicates()
    return run.result()


# --- texts ------------------------------------------------------------------------------------


def embed_texts(
    texts: Sequence[str],
    *,
    model: str | os.PathLike[str] | None = None,
    cache: bool = True,
    int8: bool | None = None,
) -> np.ndarray:
    """Embed texts with CLIP: (N, dim) float32, L2-normalised; cached by (model, text)."""
    if isinstance(texts, str):
        raise BadInputError("embed_texts takes a list of texts, not a single string.")
    texts = list(texts)
    encoder = get_encoder(model, int8)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    found = get_cache().get_texts(encoder.model_id, texts) if cache else {}
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        new = encoder.encode_texts(missing)
        found.update(zip(missing, new, strict=True))
        if cache:
            get_cache().put_texts(encoder.model_id, list(zip(missing, new, strict=True)))
    return np.stack([found[t] for t in texts]).astype(np.float32)
