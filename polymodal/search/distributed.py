"""Embedding a collection's new images on a Ray cluster: an actor pool over Ray Data.

Only the embedding moves. This process walks the folders, plans (unchanged files are never
read, moves reuse vectors), and writes every batch into the collection as it arrives, with the
same writer and lock as the local path: one writer per table, since concurrent LanceDB commits
conflict, and rows keyed by path, so the collection is the one a local run builds. Each actor
loads the collection's model once (by the name or folder recorded in its header) and sends back
vectors, or the sentence saying why a file could not be read.

What a cluster needs: every node reads the images at this machine's absolute paths (a shared
mount, or a local cluster) and has polymodal with the model (a catalogue name, or a model
folder at the same path on every node). The collection itself may be a local folder or an
object-store URI; only this process writes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from polymodal.progress import CancelToken, ProgressCallback, Reporter
from polymodal.scale import connect, map_with_actors
from polymodal.search.records import Skipped
from polymodal.search.schema import Header
from polymodal.vision import embed_images, get_encoder

CPUS_PER_ACTOR = 2.0
"""CPU threads one actor embeds with (decoding and the model share them)."""
MEMORY_PER_ACTOR = 2**30
"""What one actor reserves: a ViT-B/32 CLIP with its decode-ahead buffers stays under 1 GiB."""
#: Environment an actor needs to find models and caches as this process does.
_CARRIED_ENV = ("POLYMODAL_", "HF_", "TRANSFORMERS_")


def embed_on_ray(
    paths: Sequence[str],
    header: Header,
    *,
    address: str | None = None,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[Sequence[str], np.ndarray, Sequence[Skipped]]]:
    """``(paths, vectors, skipped)`` per batch finished on the cluster, in the shape of
    :func:`polymodal.search.ingest.embed_locally`; ``cancel`` is checked as each arrives."""
    ray = connect(address)
    rows = [{"path": os.path.abspath(p)} for p in paths]
    results = map_with_actors(
        ray.data.from_items(rows),
        _EmbedActor,
        constructor_kwargs={
            "model": header.model,
            "int8": header.model_id.endswith("+int8"),
            "env": {k: v for k, v in os.environ.items() if k.startswith(_CARRIED_ENV)},
        },
        items=len(rows),
        batch_size=batch_size,
        cpus=CPUS_PER_ACTOR,
        memory=MEMORY_PER_ACTOR,
    )
    report = Reporter(progress, "embed", "images", cancel)
    done = 0
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        done += len(batch["path"])
        report(done, len(rows))
        yield _unpacked(batch)


def _unpacked(batch: dict[str, Any]) -> tuple[list[str], np.ndarray, list[Skipped]]:
    """An actor's columns as embedded paths with their vectors, and skipped files."""
    reasons = [str(r) for r in batch["reason"]]
    good = [i for i, reason in enumerate(reasons) if not reason]
    paths = [str(batch["path"][i]) for i in good]
    vectors = np.stack([batch["vector"][i] for i in good]).astype(np.float32) if good else None
    skipped = [Skipped(str(batch["path"][i]), r) for i, r in enumerate(reasons) if r]
    dim = len(batch["vector"][0]) if len(batch["vector"]) else 0
    return paths, vectors if vectors is not None else np.zeros((0, dim), np.float32), skipped


class _EmbedActor:
    """One actor of the pool: loads the CLIP model once, then embeds each batch of files."""

    def __init__(self, model: str, int8: bool, env: dict[str, str]) -> None:
        os.environ.update(env)
        self._encoder = get_encoder(model, int8=int8)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        paths = [str(p) for p in batch["path"]]
        found = embed_images(paths, model=self._encoder, cache=False)
        vectors = dict(zip(found.paths, found.vectors, strict=True))
        reasons = {failure.path: failure.reason for failure in found.failures}
        blank = np.zeros(self._encoder.dim, dtype=np.float32)
        return {
            "path": np.array(paths, dtype=object),
            "vector": np.stack([vectors.get(p, blank) for p in paths]),
            "reason": np.array([reasons.get(p, "") for p in paths], dtype=object),
        }
