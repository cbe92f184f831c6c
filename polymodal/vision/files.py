"""Which files a vision task looks at: one path or many, folders expanded to their images.

The walking itself is :func:`polymodal.media.files.find_files` (the one walker, shared with
speech and search) with :func:`polymodal.media.image.is_image_file` as its filter; this adapter
gives every task plain strings in input order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from polymodal.media.image import IMAGE_EXTENSIONS, find_images

PathLike = str | os.PathLike[str]

__all__ = ["IMAGE_EXTENSIONS", "PathLike", "image_files"]


def image_files(
    paths: PathLike | Sequence[PathLike], *, recursive: bool = True, param: str = "images"
) -> list[str]:
    """Files to process, in order: explicit files as given, folders expanded (sorted).

    A path that does not exist, or a folder with no image in it, raises
    :class:`~polymodal.errors.BadInputError` naming ``param``; files that exist but are not
    readable images are left for the task to report as failures.
    """
    return [str(p) for p in find_images(paths, recursive=recursive, param=param)]
