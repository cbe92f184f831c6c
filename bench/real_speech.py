"""Real-speech benchmark: our default path against plain faster-whisper on recordings people made.

The set is ``../shared/data/real-speech/`` (its README and MANIFEST.tsv say what each file is).
Per file, in the same run and the same process, alternating: ``polymodal.transcribe(path)``
(our defaults) and ``faster_whisper.WhisperModel(<same whisper-base>, device="cpu",
compute_type="int8").transcribe(path)`` (its defaults), each measured for

* ``words``: words of the text (characters for Chinese and Japanese);
* ``longest_repeat``: the longest run of one word or n-gram (n <= 4) repeated back to back,
  counted in repeats ("yeah yeah yeah" is 3; text with no repeat is 1);
* ``wer`` with ``jiwer`` after Whisper's English normaliser (the basic one for other
  languages; character error rate for zh/ja) where the manifest has a reference;
* ``heard_s``: seconds of speech our voice-activity detection hears (the transcript's own
  figure when its info reports one, else Silero at faster-whisper's default settings, which is
  what our pipeline used when this was written); ``covered_s``: seconds inside the union of the
  segments' spans; ``heard_covered_s``: heard speech inside those spans;
* ``seconds``: wall time of the call (models loaded beforehand).

AMI excerpts also get ``polymodal.diarize(path, SpeakerOptions(speakers="auto"))`` scored with
``pyannote.metrics`` DER (no collar, overlap counted, the whole file scored) against
``ami/reference.rttm``, the speaker count found against the truth, and the wall time of
``transcribe(..., speakers=...)`` against ``transcribe`` alone (speakers' share of the time).

Two joined recordings test what single utterances cannot: an English half followed by a German
half (FLEURS; ``both_halves``: at least half of each half's reference words recognised), and the
long form: the English utterances (``en/`` and ``long/``) in shuffled order, repeated to
``--long-minutes``, joined with 1 s pauses; its WER against the utterances' references is
compared with the WER of the same utterances transcribed one by one (ours).

``ratio`` is plain faster-whisper's total seconds over ours on the per-file set (above 1: we are
faster). ``goals`` lists the goal checks of issue 20 as booleans. Prints one JSON object (one
line) with ``baseline``, ``ours``, ``ratio``, ``goals`` and the per-file rows.

    .venv/bin/python bench/real_speech.py --quick          # a few files, 3 min long form
    .venv/bin/python bench/real_speech.py --long-minutes 30
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from speech_measures import (
    der,
    error_rate,
    hit_share,
    intersect_seconds,
    longest_repeat,
    reference_turns,
    tokens,
    union_seconds,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "real-speech"
SAMPLE_RATE = 16000
QUICK = (
    "ami/trn02.wav",
    "ami/trn04.wav",
    "ami/trn07.wav",
    "en/ami_ES2011a_headset0_40-46s.wav",
    "en/fleurs_en_000.ogg",
    "en/librispeech_1089-134686-0001.wav",
    "multilingual/fleurs_de_000.ogg",
    "multilingual/fleurs_zh_1883.wav",
    "long/earnings22_4482311_3_62.wav",
)
MIXED = (
    ("en/fleurs_en_000.ogg", "en/fleurs_en_001.ogg", "en/fleurs_en_002.ogg"),
    ("multilingual/fleurs_de_000.ogg", "multilingual/fleurs_de_001.ogg"),
)


@dataclass(frozen=True)
class Item:
    """One recording to transcribe: its path, language and reference text ("" when none)."""

    name: str
    path: Path
    language: str
    reference: str = ""


def vad_regions(audio) -> list[tuple[float, float]]:
    """Speech by Silero at faster-whisper's default settings (our pipeline's, when written)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(audio, VadOptions())
    return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in found]


def measure(text: str, spans, heard, seconds: float, item: Item, **extra) -> dict:
    """One side's figures on one file."""
    words = tokens(text, item.language)
    row = {
        "words": len(words),
        "longest_repeat": longest_repeat(words),
        "heard_s": round(union_seconds(heard), 2),
        "covered_s": round(union_seconds(spans), 2),
        "heard_covered_s": round(intersect_seconds(heard, spans), 2),
        "seconds": round(seconds, 2),
        **extra,
    }
    if item.reference:
        row["wer"] = error_rate(item.reference, text, item.language)
    return row


# --- the two sides ----------------------------------------------------------------------------


class Sides:
    """Plain faster-whisper and our public API on the same model files and threads."""

    def __init__(self, model: str, threads: int) -> None:
        from faster_whisper import WhisperModel

        import polymodal

        self.api = polymodal
        self.path = str(polymodal.resolve_model(model, "whisper").path)
        self.model = model
        self.plain = WhisperModel(self.path, device="cpu", compute_type="int8", cpu_threads=threads)

    def run_plain(self, item: Item, audio) -> tuple[dict, str]:
        start = time.perf_counter()
        segments, _ = self.plain.transcribe(str(item.path))
        segments = list(segments)
        seconds = time.perf_counter() - start
        text = " ".join(s.text.strip() for s in segments)
        spans = [(s.start, s.end) for s in segments]
        return measure(text, spans, vad_regions(audio), seconds, item), text

    def run_ours(self, item: Item, audio) -> tuple[dict, str]:
        start = time.perf_counter()
        try:
            transcript = self.api.transcribe(item.path, model=self.model)
        except self.api.PolymodalError as exc:
            row = measure("", [], vad_regions(audio), time.perf_counter() - start, item)
            return {**row, "error": str(exc)}, ""
        seconds = time.perf_counter() - start
        spans = [(s.start, s.end) for s in transcript.segments]
        suspect = sum(1 for s in transcript.segments if s.suspect_reasons)
        heard = _reported_heard(transcript.info) or vad_regions(audio)
        return measure(
            transcript.text, spans, heard, seconds, item, suspect=suspect
        ), transcript.text


def _reported_heard(info) -> list[tuple[float, float]] | None:
    """Speech the transcript says it heard, as spans, when its info reports it."""
    for name in ("speech_regions", "heard_regions"):
        value = getattr(info, name, None)
        if value:
            return [(float(s), float(e)) for s, e in value]
    return None


# --- the set ----------------------------------------------------------------------------------


def load_items(data: Path, quick: bool) -> list[Item]:
    """The manifest's files with references, then the AMI excerpts (no reference text)."""
    with open(data / "MANIFEST.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    items = [Item(r["file"], data / r["file"], r["language"], r["transcript"]) for r in rows]
    items += [Item(f"ami/{p.name}", p, "en") for p in sorted((data / "ami").glob("trn*.wav"))]
    return [i for i in items if i.name in QUICK] if quick else items


def decode(path: Path):
    from faster_whisper import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE)


def write_wav(path: Path, audio) -> Path:
    import numpy as np

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def join(parts: list, path: Path, pause: float = 1.0) -> Path:
    """Waveforms joined with ``pause`` seconds of silence before, between and after."""
    import numpy as np

    gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
    return write_wav(path, np.concatenate([gap, *(x for p in parts for x in (p, gap))]))


def long_order(items: list[Item], minutes: float, seed: int = 20) -> list[Item]:
    """English utterances in shuffled rounds until they last ``minutes``."""
    pool = [i for i in items if i.language == "en" and i.reference]
    if not pool:
        return []
    rng, order, total = random.Random(seed), [], 0.0
    durations = {i.name: len(decode(i.path)) / SAMPLE_RATE + 1.0 for i in pool}
    while total < minutes * 60:
        round_ = pool[:]
        rng.shuffle(round_)
        for item in round_:
            order.append(item)
            total += durations[item.name]
            if total >= minutes * 60:
                break
    return order


# --- diarization ------------------------------------------------------------------------------


def diarize_row(sides: Sides, item: Item, truth, ours_seconds: float, total) -> dict:
    """DER (and its parts) of ``diarize`` on one file; the time ``speakers=`` adds to ours."""
    api = sides.api
    options = api.SpeakerOptions(speakers="auto")
    duration = len(decode(item.path)) / SAMPLE_RATE
    start = time.perf_counter()
    try:
        diarization = api.diarize(item.path, options)
        found = [(t.start, t.end, t.speaker) for t in diarization.turns]
    except api.PolymodalError as exc:  # "no speech": every reference second is missed
        found, diarization = [], None
        error = str(exc)
    seconds = time.perf_counter() - start
    row = {
        "file": item.name,
        **der(truth, found, duration, total),
        "found": len(diarization.labels) if diarization else 0,
        "true": len({who for *_, who in truth}),
        "diarize_s": round(seconds, 2),
    }
    if diarization is None:
        row["diarize_error"] = error
    start = time.perf_counter()
    try:
        api.transcribe(item.path, model=sides.model, speakers=options)
        row["with_speakers_s"] = round(time.perf_counter() - start, 2)
        row["without_speakers_s"] = round(ours_seconds, 2)
    except api.PolymodalError as exc:
        row["with_speakers_error"] = str(exc)
    return row


# --- the run ----------------------------------------------------------------------------------


def per_file(sides: Sides, items: list[Item]) -> tuple[list[dict], dict[str, str]]:
    rows, ours_text = [], {}
    for item in items:
        audio = decode(item.path)
        plain, _ = sides.run_plain(item, audio)
        ours, text = sides.run_ours(item, audio)
        ours_text[item.name] = text
        rows.append({"file": item.name, "language": item.language, "plain": plain, "ours": ours})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows, ours_text


def mixed_row(sides: Sides, data: Path, workdir: Path) -> dict:
    """English then German in one file: are both halves transcribed?"""
    halves = [[Item(n, data / n, "en") for n in names] for names in MIXED]
    refs = {r.name: r.reference for r in load_items(data, quick=False)}
    path = join([decode(i.path) for half in halves for i in half], workdir / "en_de.wav")
    references = [" ".join(refs[i.name] for i in half) for half in halves]
    item = Item("joined/en_then_de.wav", path, "xx", " ".join(references))
    audio = decode(path)
    row = {"file": item.name, "language": "en+de"}
    for side, run in (("plain", sides.run_plain), ("ours", sides.run_ours)):
        figures, text = run(item, audio)
        shares = hit_share(references, text)
        row[side] = {**figures, "half_hits": shares, "both_halves": min(shares) >= 0.5}
    return row


def long_form(sides: Sides, items: list[Item], texts: dict, minutes: float, workdir: Path):
    order = long_order(items, minutes)
    if not order:
        return None
    path = join([decode(i.path) for i in order], workdir / "long.wav")
    reference = " ".join(i.reference for i in order)
    joined = Item("joined/long.wav", path, "en", reference)
    audio = decode(path)
    plain, _ = sides.run_plain(joined, audio)
    ours, _ = sides.run_ours(joined, audio)
    parts = error_rate(reference, " ".join(texts[i.name] for i in order), "en")
    return {
        "minutes": round(len(audio) / SAMPLE_RATE / 60, 2),
        "utterances": len(order),
        "plain": plain,
        "ours": ours,
        "ours_one_by_one_wer": parts,
        "ours_vs_parts": round(ours["wer"] / parts, 2) if parts else None,
    }


def summary(rows: list[dict], side: str) -> dict:
    figures = [r[side] for r in rows]
    with_ref = [f["wer"] for f in figures if "wer" in f]
    return {
        "seconds": round(sum(f["seconds"] for f in figures), 2),
        "words": sum(f["words"] for f in figures),
        "longest_repeat": max(f["longest_repeat"] for f in figures),
        "mean_wer": round(statistics.mean(with_ref), 4) if with_ref else None,
        "heard_s": round(sum(f["heard_s"] for f in figures), 1),
        "heard_covered_s": round(sum(f["heard_covered_s"] for f in figures), 1),
        "errors": sum(1 for f in figures if "error" in f),
    }


def goals(rows, mixed, long, speakers) -> dict:
    pairs = [(r["plain"], r["ours"]) for r in rows]
    out = {
        "no_longer_repeats_than_plain": all(
            o["longest_repeat"] <= p["longest_repeat"] for p, o in pairs
        ),
        "at_least_plain_words": all(o["words"] >= p["words"] for p, o in pairs),
        "wer_no_worse_than_plain": all(o["wer"] <= p["wer"] for p, o in pairs if "wer" in p),
        "both_halves_of_two_languages": mixed["ours"]["both_halves"],
    }
    if long:
        out["long_form_within_1.3x_parts"] = bool(
            long["ours_vs_parts"] and long["ours_vs_parts"] <= 1.3
        )
        out["long_form_no_worse_than_plain"] = long["ours"]["wer"] <= long["plain"]["wer"]
    if speakers:
        out["mean_der_at_most_0.20"] = statistics.mean(r["der"] for r in speakers) <= 0.20
        out["speaker_count_within_one"] = all(abs(r["found"] - r["true"]) <= 1 for r in speakers)
        timed = [r for r in speakers if "with_speakers_s" in r]
        if timed:
            extra = sum(r["with_speakers_s"] for r in timed) / sum(
                r["without_speakers_s"] for r in timed
            )
            out["speakers_add_at_most_25_percent"] = extra <= 1.25
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few files, 3 min long form")
    parser.add_argument("--long-minutes", type=float, default=None, help="default 30 (quick: 3)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not (args.data / "MANIFEST.tsv").is_file():
        sys.exit(f"The real-speech set is not at {args.data}: pass --data.")
    os.environ.setdefault("POLYMODAL_THREADS", str(args.threads))
    minutes = args.long_minutes if args.long_minutes is not None else (3 if args.quick else 30)
    items = load_items(args.data, args.quick)
    sides = Sides(args.model, args.threads)
    warm = Item("warm", next(i.path for i in items if i.language == "en"), "en")
    sides.run_plain(warm, decode(warm.path)), sides.run_ours(warm, decode(warm.path))
    rows, texts = per_file(sides, items)
    truth = reference_turns(args.data)
    ours_time = {r["file"]: r["ours"]["seconds"] for r in rows}
    from pyannote.metrics.diarization import DiarizationErrorRate

    total = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    speakers = [
        diarize_row(sides, i, truth[i.path.stem], ours_time[i.name], total)
        for i in items
        if i.path.stem in truth
    ]
    with tempfile.TemporaryDirectory(prefix="real_speech_") as tmp:
        mixed = mixed_row(sides, args.data, Path(tmp))
        long = long_form(sides, items, texts, minutes, Path(tmp)) if minutes > 0 else None
    ours = summary(rows, "ours")
    if speakers:
        ours["mean_der"] = round(statistics.mean(r["der"] for r in speakers), 4)
        ours["total_der"] = round(abs(total), 4)  # time-weighted over the files, as papers report
        ours["speaker_count_misses"] = sum(r["found"] != r["true"] for r in speakers)
    report = {
        "benchmark": "real_speech",
        "config": {
            "quick": args.quick,
            "long_minutes": minutes,
            "threads": args.threads,
            "model": args.model,
            "model_path": sides.path,
            "polymodal": str(Path(sides.api.__file__).parent),
            "files": len(items),
        },
        "baseline": {
            "name": "faster_whisper.WhisperModel(int8).transcribe() defaults",
            **summary(rows, "plain"),
        },
        "ours": {"name": "polymodal.transcribe() defaults", **ours},
        "ratio": round(summary(rows, "plain")["seconds"] / max(ours["seconds"], 1e-9), 2),
        "goals": goals(rows, mixed, long, speakers),
        "long_form": long,
        "mixed_language": mixed,
        "diarization": speakers,
        "files": rows,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
