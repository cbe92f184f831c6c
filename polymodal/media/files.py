"""Files in and out: the one folder walker and the one atomic writer every room uses.

The walker's rules, the same for audio, images and (next) search ingest: folders are walked
recursively in sorted order, hidden files and folders (a name starting with ".") are skipped,
symbolic links to folders are not followed (no loops), files named directly are kept whatever
their type (decoding will judge and report them), and a named folder holding no matching file
is an error, since the user most likely pointed at the wrong place.

The writer goes through a temporary file in the target's folder and a rename, so Ctrl-C or a
crash never leaves half a file where a finished one is expected.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from polymodal.errors import BadInputError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FoundFile:
    """A file to process and the root it was found under (its folder when named directly);
    ``relative`` keeps sub-folders when outputs mirror the input tree."""

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        try:
            return self.path.relative_to(self.root)
        except ValueError:
            return Path(self.path.name)


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def walk_folder(
    folder: Path, accept: Callable[[Path], bool], *, recursive: bool = True
) -> Iterator[Path]:
    """Accepted files under ``folder``, sorted, hidden entries and folder links skipped."""
    for current, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d)) if recursive else []
        for name in sorted(files):
            path = Path(current) / name
            if not _is_hidden(name) and path.is_file() and accept(path):
                yield path


def find_files(
    inputs: PathLike | Iterable[PathLike],
    accept: Callable[[Path], bool],
    *,
    kind: str = "matching",
    recursive: bool = True,
    param: str | None = None,
) -> list[FoundFile]:
    """Every file to process, in order, each once: files named directly plus the accepted
    files inside named folders.

    ``kind`` words the error for an empty folder ("contains no image files"); ``param`` names
    the argument the inputs came from, for the error's ``param``. Raises
    :class:`~polymodal.errors.BadInputError` for a path that does not exist and for a folder
    with nothing accepted in it.
    """
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    found: dict[Path, FoundFile] = {}
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            files = list(walk_folder(path, accept, recursive=recursive))
            if not files:
                raise BadInputError(f"{path} contains no {kind} files.", param=param)
            for file in files:
                found.setdefault(file, FoundFile(file, path))
        elif path.exists():
            found.setdefault(path, FoundFile(path, path.parent))
        else:
            raise BadInputError(f"{path}: no such file or folder.", param=param)
    return list(found.values())


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without an error, removed otherwise. The temporary name keeps the suffix, so writers that
    choose a format by suffix (numpy, pyarrow) still work."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: PathLike, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to ``path`` atomically, flushed to disk before the rename."""
    with atomic_path(path) as tmp:
        mode = "wb" if isinstance(data, bytes) else "w"
        encoding = None if isinstance(data, bytes) else "utf-8"
        with open(tmp, mode, encoding=encoding, newline="" if encoding else None) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
