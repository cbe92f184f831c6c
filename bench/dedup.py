"""Duplicate finding: recall on edited copies and speed, against a plain pHash photo tool.

Baseline: what common duplicate finders do, one imagehash pHash per file and a Hamming
threshold of 10 of 64 bits. Ours: ``polymodal.vision.dedup`` with the CLIP stage off (so only
the perceptual part is measured). Both run on the same folder, made here from scikit-image's
photos: originals plus resized, recompressed, cropped, rotated and mirrored copies.
Prints one JSON object: ``ratio`` is our speed over the baseline's (we hash 31 views per
image, so it is below 1), ``recall_ratio`` our pair recall over the baseline's.
"""

from __future__ import annotations

import io
import itertools
import json
import tempfile
import time
from pathlib import Path

import imagehash
from PIL import Image

from polymodal.vision.dedup import find_duplicates

T = Image.Transpose
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "horse", "clock")


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    return image.crop(
        (int(w * fraction), int(h * fraction), w - int(w * fraction), h - int(h * fraction))
    )


EDITS = {
    "resized": lambda i: i.resize((i.width // 2, i.height // 2), Image.Resampling.LANCZOS),
    "recompressed": lambda i: _jpeg(i, 35),
    "cropped5": lambda i: _crop(i, 0.05),
    "rot90": lambda i: i.transpose(T.ROTATE_90),
    "rot180": lambda i: i.transpose(T.ROTATE_180),
    "rot270": lambda i: i.transpose(T.ROTATE_270),
    "mirrored": lambda i: i.transpose(T.FLIP_LEFT_RIGHT),
    "combined": lambda i: _jpeg(
        _crop(i.transpose(T.TRANSPOSE).resize((i.height // 2, i.width // 2)), 0.04), 50
    ),
}


def build(folder: Path) -> dict[str, str]:
    """Write originals and edits; return path -> photo name."""
    from skimage import data

    truth = {}
    for name in PHOTOS:
        original = Image.fromarray(getattr(data, name)()).convert("RGB")
        original.save(folder / f"{name}.png")
        truth[str(folder / f"{name}.png")] = name
        for edit, transform in EDITS.items():
            path = folder / f"{name}-{edit}.jpg"
            transform(original).save(path, quality=90)
            truth[str(path)] = name
    return truth


def score(pairs: set[frozenset[str]], truth: dict[str, str]) -> dict[str, float]:
    expected = {
        frozenset(p) for p in itertools.combinations(truth, 2) if truth[p[0]] == truth[p[1]]
    }
    found = {p for p in pairs if len(p) == 2}
    return {
        "pair_recall": round(len(found & expected) / len(expected), 3),
        "false_pairs": len(found - expected),
    }


def baseline(truth: dict[str, str]) -> tuple[set[frozenset[str]], float]:
    start = time.perf_counter()
    hashes = {p: imagehash.phash(Image.open(p)) for p in truth}
    pairs = {
        frozenset((a, b))
        for a, b in itertools.combinations(hashes, 2)
        if hashes[a] - hashes[b] <= 10
    }
    return pairs, time.perf_counter() - start


def ours(folder: Path) -> tuple[set[frozenset[str]], float]:
    start = time.perf_counter()
    report = find_duplicates(folder, semantic=False)
    elapsed = time.perf_counter() - start
    pairs = {
        frozenset(p)
        for g in report.groups
        for p in itertools.combinations([f.path for f in g.files], 2)
    }
    return pairs, elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth = build(folder)
        ours(folder)  # warm-up: imports and thread pool
        base_pairs, base_time = baseline(truth)
        our_pairs, our_time = ours(folder)
        base, mine = score(base_pairs, truth), score(our_pairs, truth)
        per_edit = {}
        for edit in EDITS:
            edited = [p for p in truth if p.endswith(f"-{edit}.jpg")]

            def hit(pairs, path):
                return frozenset((path, str(Path(path).with_name(truth[path] + ".png")))) in pairs

            per_edit[edit] = {
                "baseline": sum(hit(base_pairs, p) for p in edited) / len(edited),
                "ours": sum(hit(our_pairs, p) for p in edited) / len(edited),
            }
    print(
        json.dumps(
            {
                "files": len(truth),
                "baseline": {
                    **base,
                    "seconds": round(base_time, 3),
                    "images_per_s": round(len(truth) / base_time, 1),
                },
                "ours": {
                    **mine,
                    "seconds": round(our_time, 3),
                    "images_per_s": round(len(truth) / our_time, 1),
                },
                "ratio": round(base_time / our_time, 3),
                "recall_ratio": round(mine["pair_recall"] / max(base["pair_recall"], 1e-9), 2),
                "recall_by_edit": per_edit,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
