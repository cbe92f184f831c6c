"""Duplicate groups as results: building them, choosing keepers, writing reports, cleaning up.

The keeper of a group is the file with the most pixels (then the largest file; among identical
copies the shortest name): the copy a person would keep. Clean-up is opt-in and cautious by
default: it moves files to a trash folder, removes only exact and near-exact copies unless
semantic matches are asked for too, and never touches a keeper.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal import render
from polymodal.errors import BadInputError
from polymodal.media.files import write_atomic
from polymodal.vision import phash
from polymodal.vision.records import Failure

PathLike = str | os.PathLike[str]

#: Group kinds from strictest to loosest.
KINDS = ("exact", "near-exact", "semantic")

CSV_COLUMNS = (
    "group",
    "kind",
    "keeper",
    "path",
    "match",
    "width",
    "height",
    "size_bytes",
    "hash_distance",
    "similarity",
)


@dataclass(frozen=True)
class DuplicateFile:
    """A file in a group: its size, and how it relates to the group's keeper.

    ``match`` is ``keeper``, ``exact``, ``near-exact`` or ``semantic``; ``hash_distance`` is
    bits out of 128 to the keeper's fingerprint, ``similarity`` the CLIP cosine to the keeper
    (``None`` when the semantic stage did not run).
    """

    path: str
    width: int
    height: int
    size_bytes: int
    match: str
    hash_distance: int
    similarity: float | None


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that show the same picture. ``kind`` is the loosest link inside the group."""

    kind: str
    keeper: str
    files: tuple[DuplicateFile, ...]

    @property
    def others(self) -> tuple[str, ...]:
        """Every file but the keeper."""
        return tuple(f.path for f in self.files if f.match != "keeper")


@dataclass(frozen=True)
class DuplicateReport:
    """All groups found (largest first), files that could not be read, and the settings."""

    groups: tuple[DuplicateGroup, ...]
    failures: tuple[Failure, ...]
    scanned: int
    hash_distance: int
    semantic_threshold: float | None
    model_id: str | None

    def __iter__(self) -> Iterator[DuplicateGroup]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def write(self, path: PathLike) -> Path:
        """Save as JSON (``.json``) or CSV (``.csv``, one row per file); returns the path."""
        return write_report(self, path)


@dataclass(frozen=True)
class Picture:
    """One distinct file content: its paths (exact copies), pixel size and fingerprint."""

    paths: tuple[str, ...]
    width: int
    height: int
    size_bytes: int
    print: phash.Fingerprint


class UnionFind:
    """Disjoint sets over ``0..size-1``; the root of a set is its smallest member."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def _keeper(members: Sequence[int], pictures: Sequence[Picture]) -> int:
    return max(
        members, key=lambda i: (pictures[i].width * pictures[i].height, pictures[i].size_bytes, -i)
    )


def _original(paths: Sequence[str]) -> str:
    """Among byte-identical copies, the likely original: the shortest name ("IMG_1.jpg", not
    "IMG_1 (copy).jpg"), then the first in order."""
    return min(paths, key=lambda p: (len(Path(p).name), p))


def _group(
    members: Sequence[int],
    pictures: Sequence[Picture],
    perceptual: UnionFind,
    vectors: dict[int, np.ndarray],
) -> DuplicateGroup:
    keep = _keeper(members, pictures)
    files = []
    for index in members:
        picture = pictures[index]
        if index == keep:
            original = _original(picture.paths)
            matches = ["keeper" if p == original else "exact" for p in picture.paths]
        elif perceptual.find(index) == perceptual.find(keep):
            matches = ["near-exact"] * len(picture.paths)
        else:
            matches = ["semantic"] * len(picture.paths)
        bits = int(phash.distance_matrix([pictures[keep].print, picture.print])[0, 1])
        cosine = None
        if index in vectors and keep in vectors:
            cosine = round(float(vectors[index] @ vectors[keep]), 4)
        files += [
            DuplicateFile(
                path, picture.width, picture.height, picture.size_bytes, match, bits, cosine
            )
            for path, match in zip(picture.paths, matches, strict=True)
        ]
    order = {"keeper": 0, **{kind: rank for rank, kind in enumerate(KINDS, start=1)}}
    files.sort(key=lambda f: (order[f.match], f.path))
    kind = max((f.match for f in files[1:]), key=lambda m: order[m])
    return DuplicateGroup(kind=kind, keeper=files[0].path, files=tuple(files))


def build_groups(
    pictures: Sequence[Picture],
    grouping: UnionFind,
    perceptual: UnionFind,
    vectors: dict[int, np.ndarray],
) -> tuple[DuplicateGroup, ...]:
    """Groups of two or more files from the union-find sets, largest first."""
    sets: dict[int, list[int]] = {}
    for index in range(len(pictures)):
        sets.setdefault(grouping.find(index), []).append(index)
    groups = [
        _group(members, pictures, perceptual, vectors)
        for members in sets.values()
        if sum(len(pictures[i].paths) for i in members) > 1
    ]
    groups.sort(key=lambda g: (-len(g.files), g.keeper))
    return tuple(groups)


# --- writing --------------------------------------------------------------------------------


def _rows(report: DuplicateReport) -> Iterable[dict[str, Any]]:
    """One CSV row per file: its group's number, kind and keeper, then the file's own fields
    as :func:`polymodal.render.to_data` writes them (the same keys as the JSON report)."""
    for number, group in enumerate(report.groups, start=1):
        for file in group.files:
            yield {
                "group": number,
                "kind": group.kind,
                "keeper": group.keeper,
                **render.to_data(file),
            }


def report_format(path: PathLike) -> str:
    """``"json"`` or ``"csv"`` from the file name; checked before a long scan, not after."""
    suffix = Path(path).suffix.lower()
    if suffix not in {".json", ".csv"}:
        raise BadInputError(f"Report file '{path}' must end in .json or .csv.", param="report")
    return suffix[1:]


def write_report(report: DuplicateReport, path: PathLike) -> Path:
    """Write ``report`` as JSON or CSV by extension; the file appears whole or not at all."""
    path = Path(path)
    if report_format(path) == "json":
        write_atomic(path, render.to_json(report))
        return path
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(_rows(report))
    write_atomic(path, text.getvalue())
    return path


# --- clean-up -------------------------------------------------------------------------------


def _destination(path: Path, root: Path, trash: Path) -> Path:
    target = trash / path.resolve().relative_to(root)
    stem, number = target, 1
    while target.exists():
        target = stem.with_name(f"{stem.stem}-{number}{stem.suffix}")
        number += 1
    return target


def remove_duplicates(
    report: DuplicateReport,
    *,
    trash: PathLike | None = None,
    delete: bool = False,
    kinds: Sequence[str] = ("exact", "near-exact"),
) -> tuple[str, ...]:
    """Move every non-keeper whose match is in ``kinds`` into ``trash``, or delete it.

    Exactly one of ``trash`` (files keep their relative folders there) and ``delete=True``
    (permanent) must be chosen. Semantic matches are only touched when ``kinds`` includes
    ``"semantic"``. Returns the paths removed.
    """
    if (trash is None) == (not delete):
        raise BadInputError(
            "Choose exactly one: a trash folder to move duplicates to, or delete.", param="trash"
        )
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise BadInputError(f"Unknown duplicate kinds: {', '.join(unknown)}.", param="kinds")
    doomed = [Path(f.path) for g in report.groups for f in g.files if f.match in kinds]
    if not doomed:
        return ()
    root = Path(os.path.commonpath([str(p.resolve().parent) for p in doomed]))
    removed = []
    for path in doomed:
        if not path.exists():
            continue
        if delete:
            path.unlink()
        else:
            target = _destination(path, root, Path(trash))  # type: ignore[arg-type]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
        removed.append(str(path))
    return tuple(removed)
