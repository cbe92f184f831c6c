"""Speech benchmark: our default transcription path against plain faster-whisper, same run.

1. A ~60 s espeak-ng passage: real-time factor, word error rate and peak RSS of
   ``polymodal.speech.transcribe`` (defaults) vs ``faster_whisper.WhisperModel(path).transcribe``
   (its defaults), same model files and CPU threads.
2. 40 clips of 5-15 s: ``transcribe_folder`` (model loaded once, clips batched) vs one plain
   ``transcribe()`` call per clip; clips per second and WER.
3. Word errors over four passages (the first one and three more, 562 words, four speaking
   rates): one passage is too few words to tell two decoders apart (one word is 0.6 %).

Each measurement runs in its own process (so peak RSS is its own); timed parts exclude model
loading and take the best of ``--repeats``; the passage is timed in ``--rounds`` alternating
rounds of plain and ours. Prints one JSON object: ``baseline``, ``ours``,
``ratio`` (ours ÷ baseline speed on the passage) and ``folder_ratio``; plain faster-whisper
with ``compute_type="int8"`` is measured too, to show what int8 alone would give, and our
folder run in float32 (``--compute-type float32``), to show what int8 costs in accuracy.
WER uses Whisper's English text normaliser on both sides.

    .venv/bin/python bench/speech.py [--threads 2] [--repeats 2] [--model whisper-base]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASSAGE = (
    "The history of the city begins with a small fishing village on the banks of a wide "
    "river. Over many centuries, traders arrived from distant lands, bringing spices, cloth and "
    "new ideas. The village grew into a busy market town, and later into a great city with "
    "bridges, schools and hospitals. Today, millions of people live there, and visitors come "
    "from all over the world to walk along the old streets, to taste the food, and to listen "
    "to the music that fills the squares every evening. The weather is mild in spring and "
    "autumn, but summers can be very hot and winters are often wet and windy. Most people "
    "travel by train or by bicycle, because the roads in the middle of town are narrow and "
    "crowded. The museum near the main station holds paintings, maps and tools that tell the "
    "story of the city. On the first weekend of every month, the museum opens its doors for "
    "free, and long lines of families wait patiently outside the gates."
)
MORE_PASSAGES = [
    "Every morning the baker opens the small shop on the corner before the sun comes up. He "
    "mixes flour, water and salt, shapes the loaves by hand and bakes them in an old stone oven. "
    "By seven o'clock a queue of neighbours stretches along the pavement. Some buy a single roll "
    "for breakfast, others carry home three or four large loaves for the whole family. In the "
    "afternoon he makes cakes with fresh fruit from the market, and on Sundays he closes early "
    "to spend time with his children in the park.",
    "Scientists have studied the ocean for hundreds of years, yet much of the deep sea remains "
    "unexplored. Strange animals live in the darkness far below the surface, where the water is "
    "cold and the pressure is enormous. Some fish make their own light to find food or to "
    "attract a partner. Robots with cameras now travel to the bottom of deep trenches and send "
    "back pictures that nobody has seen before. Each new expedition finds species that are "
    "unknown to science, and researchers believe that many more are waiting to be discovered.",
    "Learning a new language takes patience and practice. It helps to listen to the radio, to "
    "read simple stories and to speak with friends as often as possible. Mistakes are a normal "
    "part of the process, and nobody should be afraid of them. Many people find it useful to "
    "write down ten new words every day and to repeat them before going to sleep. After a few "
    "months, conversations become easier, jokes start to make sense, and the new language "
    "slowly begins to feel natural.",
]
SENTENCES = [
    "Please remember to buy milk, bread and eggs on the way home tonight.",
    "The meeting with the design team has moved to Thursday afternoon.",
    "I left the keys to the garage on the kitchen table next to the lamp.",
    "Could you call the dentist tomorrow morning and ask for a new appointment?",
    "The train was late again, so I will be about twenty minutes behind schedule.",
    "Water the plants on the balcony while we are away on holiday.",
    "The new library opens next week with a reading room for children.",
    "Our neighbor offered to lend us a ladder to fix the broken window.",
    "Send the report to the finance team before the end of the day.",
    "The football match was cancelled because of the heavy rain.",
    "My sister is coming to visit us with her two dogs next month.",
    "Do not forget to bring a warm jacket, it will be cold in the mountains.",
    "The printer on the second floor has run out of paper again.",
    "We should book the tickets early because the concert is very popular.",
    "The doctor said I need to drink more water and sleep a little longer.",
    "Let us meet at the coffee shop near the station at half past ten.",
]


def _words(text: str) -> str:
    """Whisper's English normaliser (the Whisper paper's WER, also the Open ASR leaderboard's):
    "second floor" and "2nd floor", "neighbour" and "neighbor" count as the same words."""
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()(text)


def _wer(references: list[str], hypotheses: list[str]) -> float:
    import jiwer

    return round(jiwer.wer([_words(r) for r in references], [_words(h) for h in hypotheses]), 4)


def _errors(references: list[str], hypotheses: list[str]) -> int:
    import jiwer

    out = jiwer.process_words([_words(r) for r in references], [_words(h) for h in hypotheses])
    return out.substitutions + out.deletions + out.insertions


def _speak(text: str, path: Path, speed: int = 160) -> Path:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(raw),
            "-ac",
            "1",
            "-ar",
            "16000",
            str(path),
        ],
        check=True,
    )
    raw.unlink()
    return path


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def make_inputs(workdir: Path, clips: int) -> dict:
    """The passage and ``clips`` voice-note clips of 5-15 s, with their reference texts."""
    passage = _speak(PASSAGE, workdir / "passage.wav")
    more = [
        str(_speak(text, workdir / f"passage{i}.wav", speed))
        for i, (text, speed) in enumerate(zip(MORE_PASSAGES, (150, 170, 165), strict=True), 1)
    ]
    rng = random.Random(7)
    folder = workdir / "clips"
    folder.mkdir()
    references = {}
    for i in range(clips):
        for _ in range(20):
            text = " ".join(rng.sample(SENTENCES, rng.choice([1, 2, 3])))
            path = _speak(text, folder / f"clip{i:02d}.wav", speed=rng.randint(150, 175))
            if 5.0 <= _duration(path) <= 15.0:
                break
        references[path.name] = text
    return {
        "passage": str(passage),
        "passages": [str(passage), *more],
        "folder": str(folder),
        "references": references,
    }


# --- workers: each runs in a fresh process ------------------------------------------------


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(function, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def worker(mode: str, inputs: dict, model: str, threads: int, repeats: int) -> dict:
    from polymodal.catalog import resolve

    path = str(resolve(model, "whisper").path)
    clips = sorted(Path(inputs["folder"]).glob("*.wav"))
    if mode.startswith("plain"):
        from faster_whisper import WhisperModel

        compute = "int8" if mode.startswith("plain8") else "default"
        plain = WhisperModel(path, cpu_threads=threads, compute_type=compute)

        def one(file: str) -> str:
            segments, _ = plain.transcribe(file)
            return " ".join(s.text for s in segments)

        if mode.endswith("-passage"):
            seconds, text = _timed(lambda: one(inputs["passage"]), repeats)
            return {"seconds": seconds, "texts": [text], "peak_rss_mb": _peak_rss_mb()}
        if mode.endswith("-passages"):
            seconds, texts = _timed(lambda: [one(f) for f in inputs["passages"]], 1)
            return {"seconds": seconds, "texts": texts}
        seconds, texts = _timed(lambda: [one(str(c)) for c in clips], 1)
        return {"seconds": seconds, "texts": texts, "peak_rss_mb": _peak_rss_mb()}

    from polymodal.speech import Transcriber, transcribe_folder

    ours = Transcriber(model, threads=threads, compute_type="float32" if "32" in mode else None)
    if mode == "ours-passage":
        seconds, transcript = _timed(lambda: ours.transcribe(inputs["passage"]), repeats)
        return {"seconds": seconds, "texts": [transcript.text], "peak_rss_mb": _peak_rss_mb()}
    if mode == "ours-passages":

        def each_passage() -> list[str]:
            return [ours.transcribe(f).text for f in inputs["passages"]]

        seconds, texts = _timed(each_passage, 1)
        return {"seconds": seconds, "texts": texts}
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))

    def run_folder():
        shutil.rmtree(out, ignore_errors=True)
        return transcribe_folder(inputs["folder"], out, ["txt", "json"], model=ours)

    seconds, report = _timed(run_folder, 1)
    assert report.failed == 0, report
    texts = [(out / f"{c.stem}.txt").read_text().replace("\n", " ") for c in clips]
    return {"seconds": seconds, "texts": texts, "peak_rss_mb": _peak_rss_mb()}


def _run_worker(mode: str, spec: Path, args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--inputs",
        str(spec),
        "--model",
        args.model,
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _passage_rounds(spec: Path, args) -> dict[str, dict]:
    """The passage timed in alternating rounds (plain, ours, plain int8, then again): a shared
    machine's slow spell then hits every side alike; each side keeps its fastest round."""
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for side in ("plain", "ours", "plain8"):
            result = _run_worker(f"{side}-passage", spec, args)
            if side not in best or result["seconds"] < best[side]["seconds"]:
                best[side] = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="alternating passage rounds")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--worker")
    parser.add_argument("--inputs")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        inputs = json.loads(Path(args.inputs).read_text())
        result = worker(args.worker, inputs, args.model, args.threads, args.repeats)
        print(json.dumps(result))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-speech-"))
    try:
        inputs = make_inputs(workdir, args.clips)
        spec = workdir / "inputs.json"
        spec.write_text(json.dumps(inputs))
        passage_seconds = _duration(Path(inputs["passage"]))
        clip_names = sorted(inputs["references"])
        clip_refs = [inputs["references"][n] for n in clip_names]
        clip_audio = sum(_duration(Path(inputs["folder"]) / n) for n in clip_names)
        results = {}
        best = _passage_rounds(spec, args)
        for side in ("plain", "ours"):
            passage = best[side]
            folder = _run_worker(f"{side}-folder", spec, args)
            passages = _run_worker(f"{side}-passages", spec, args)
            results[side] = {
                "passage": {
                    "seconds": round(passage["seconds"], 3),
                    "rtf": round(passage["seconds"] / passage_seconds, 4),
                    "x_realtime": round(passage_seconds / passage["seconds"], 2),
                    "wer": _wer([PASSAGE], passage["texts"]),
                    "peak_rss_mb": passage["peak_rss_mb"],
                },
                "folder": {
                    "seconds": round(folder["seconds"], 3),
                    "clips_per_s": round(len(clip_names) / folder["seconds"], 3),
                    "wer": _wer(clip_refs, folder["texts"]),
                    "peak_rss_mb": folder["peak_rss_mb"],
                },
                "four_passages": {
                    "seconds": round(passages["seconds"], 3),
                    "word_errors": _errors([PASSAGE, *MORE_PASSAGES], passages["texts"]),
                    "wer": _wer([PASSAGE, *MORE_PASSAGES], passages["texts"]),
                },
            }
        exact = _run_worker("ours32-folder", spec, args)
        results["ours_float32_folder"] = {
            "seconds": round(exact["seconds"], 3),
            "clips_per_s": round(len(clip_names) / exact["seconds"], 3),
            "wer": _wer(clip_refs, exact["texts"]),
        }
        int8 = best["plain8"]
        results["plain_int8"] = {
            "seconds": round(int8["seconds"], 3),
            "x_realtime": round(passage_seconds / int8["seconds"], 2),
            "wer": _wer([PASSAGE], int8["texts"]),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base, ours = results["plain"], results["ours"]
    report = {
        "benchmark": "speech",
        "model": args.model,
        "threads": args.threads,
        "passage_audio_s": round(passage_seconds, 2),
        "clips": len(clip_names),
        "clips_audio_s": round(clip_audio, 1),
        "baseline": {"name": "faster_whisper.WhisperModel(path).transcribe() defaults", **base},
        "ours": {"name": "polymodal.speech.transcribe / transcribe_folder defaults", **ours},
        "ratio": round(base["passage"]["seconds"] / ours["passage"]["seconds"], 2),
        "folder_ratio": round(ours["folder"]["clips_per_s"] / base["folder"]["clips_per_s"], 2),
        "wer_equal_or_better": ours["passage"]["wer"] <= base["passage"]["wer"],
        "four_passages_ratio": round(
            base["four_passages"]["seconds"] / ours["four_passages"]["seconds"], 2
        ),
        "four_passages_wer_equal_or_better": (
            ours["four_passages"]["wer"] <= base["four_passages"]["wer"]
        ),
        # Plain faster-whisper told to use int8 too: how much of the gain is int8 alone.
        "reference_plain_int8_passage": results["plain_int8"],
        "reference_ours_float32_folder": results["ours_float32_folder"],
        "ratio_vs_plain_int8": round(
            results["plain_int8"]["seconds"] / ours["passage"]["seconds"], 2
        ),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
