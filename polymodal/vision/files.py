"""Which files a vision task looks at: one path or many, folders expanded to their images.

The walking itself is :func:`polymodal.media.image.find_images` (shared with ``embed``); this
adapter lets every task take a single path as well as a list, and drops repeats.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from polymodal.media.image import IMAGE_EXTENSIONS, find_images

PathLike = str | os.PathLike[str]

__all__ = ["IMAGE_EXTENSIONS", "PathLike", "image_files"]


def image_files(paths: PathLike | Sequence[PathLike], *, recursive: bool = True) -> list[str]:
    """Files to process, in order: explicit files as given, folders expanded (sorted).

    A path that does not exist raises :class:`~polymodal.errors.BadInputError`; files that
    exist but are not readable images are left for the task to report as failures.
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    return list(dict.fromkeys(str(p) for p in find_images(items, recursive=recursive)))
