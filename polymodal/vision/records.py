"""What embedding produces: per-image vectors in input order, batches as they finish, and the
files that failed (with the sentence saying why). Plain records, rendered by
:mod:`polymodal.render` like every result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from polymodal.errors import BadInputError


@dataclass(frozen=True)
class Failure:
    """An input that could not be embedded, and the sentence saying why."""

    path: str
    reason: str


def require_readable(failures: Sequence[Failure], processed: int) -> None:
    """A task whose every input failed has no answer to give: one sentence saying so (the
    CLI's exit 2, the server's 400), with the first file's reason. Some files failing is not
    an error: they are listed in the result's ``failures`` and the rest completes."""
    if processed == 0 and failures:
        count = len(failures)
        what = "the image" if count == 1 else f"the {count} images"
        raise BadInputError(f"None of {what} could be read ({failures[0].reason}).", param="images")


def _same(a: Any, b: Any) -> bool:
    """Field equality where numpy arrays compare by shape and values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    return a == b


class _ArrayEquality:
    """Dataclasses holding arrays: equal when every field is (``==`` on arrays is elementwise,
    so the generated ``__eq__`` cannot say it)."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        names = self.__dataclass_fields__  # type: ignore[attr-defined]
        return all(_same(getattr(self, n), getattr(other, n)) for n in names)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class ImageEmbeddings(_ArrayEquality):
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


@dataclass(frozen=True, eq=False)
class ImageBatch(_ArrayEquality):
    """Images finished together by :func:`iter_image_batches`, as soon as they are finished.

    ``vectors[i]`` belongs to ``paths[i]``, which was input number ``positions[i]``; failures
    were inputs ``failure_positions``. ``computed`` of the vectors came from the model in this
    call, ``cached`` from the cache (the rest repeat the bytes of a file embedded earlier in
    the call). Every vector is in the cache before its batch is yielded.
    """

    positions: tuple[int, ...]
    paths: tuple[str, ...]
    vectors: np.ndarray
    failure_positions: tuple[int, ...]
    failures: tuple[Failure, ...]
    model_id: str
    computed: int
    cached: int

    def __len__(self) -> int:
        return len(self.paths)
