"""Benchmark: live captions over ``/v1/realtime``, streamed in real time, against offline.

A client streams a recording through the realtime WebSocket of a live server (``uvicorn`` in
its own process on 127.0.0.1, the default model, whisper-base int8) exactly as a microphone
would: 100 ms of 24 kHz PCM16 per append, each sent when its audio "has been spoken" (paced
by the wall clock), then two seconds of silence so the last item ends.

How a word's lag is measured: the same file is transcribed offline first (the baseline:
``polymodal.transcribe`` with word timestamps, the same model, in this process), which times
every word in the file. The live text is aligned to the offline words (difflib on normalised
words); for each live word matched to an offline word, lag = the wall time its delta arrived
minus the wall time the append holding that word's last audio was sent. Words the live text
got wrong (unmatched) have no lag. Reported: median and p95 lag; final WER of the live text
against the offline text, and of both against the reference where the file has one
(Whisper's English normaliser); the server's CPU seconds per audio second (``/proc``, its
whole process, over the streaming); and the same with two sessions streaming at once.

Files: an espeak-ng passage (synthetic, clean) and real speech from
``/work/shared/data/real-speech/long`` (a Zoom earnings call, a European Parliament speech,
a LibriVox sonnet), joined with 1 s pauses into one recording of about three minutes
(``--quick``: the espeak passage and the first file only, two sessions on the passage).
Prints one JSON object with ``baseline`` (offline), ``ours`` (live), ``ratio`` and ``goals``.
The machine is shared: the load average is reported beside the numbers.

    .venv/bin/python bench/live.py            # about 12 minutes, mostly real time
    .venv/bin/python bench/live.py --quick    # about 4 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import difflib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _serving import serving  # bench/_serving.py

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REAL = Path("/work/shared/data/real-speech")
LONG_FILES = (
    "long/earnings22_4482311_3_62.wav",
    "long/voxpopuli_en_000.ogg",
    "long/librivox_en_shakespeare_sonnet001.mp3",
)
PASSAGE = (
    "Scientists have studied the migration of birds for more than one century. Some small "
    "birds fly across whole continents every autumn, crossing mountains, deserts and open sea "
    "without stopping to eat. They find their way using the position of the sun, the pattern "
    "of the stars, and the magnetic field of the earth. Young birds often make the journey "
    "alone, following an inner sense of direction they are born with. Weather plays a large "
    "part in their success: strong winds can carry them far off course, while a clear night "
    "with a gentle breeze lets them travel quickly. Every morning the baker opens his shop "
    "before the sun rises. He mixes flour, water and salt, and shapes the dough into long "
    "loaves and small round rolls. While the bread bakes, the smell drifts down the quiet "
    "street and wakes the whole town."
)
RATE = 24_000
CHUNK_S = 0.1
SHOW_TEXT = False  # --show-text: the offline and live texts on stderr
GOALS = {"median_lag_s": 2.0, "p95_lag_s": 3.5, "wer_over_offline": 0.02, "two_median_s": 3.0}
SERVER = """
import uvicorn
from polymodal.server import ServerSettings, create_app
uvicorn.run(create_app(ServerSettings()), host="127.0.0.1", port={port}, log_level="warning")
"""


# --- the recordings ---------------------------------------------------------------------------


def espeak_passage(folder: Path) -> tuple[np.ndarray, str]:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (run scripts/setup.sh)")
    raw = folder / "passage.raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), PASSAGE], check=True)
    from polymodal.media.audio import decode_audio

    return decode_audio(raw), PASSAGE


def real_recording(names: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """The real files joined with 1 s pauses, and their references joined."""
    from polymodal.media.audio import decode_audio

    with (REAL / "MANIFEST.tsv").open() as table:
        references = {
            row["file"]: row["transcript"] for row in csv.DictReader(table, delimiter="\t")
        }
    pause = np.zeros(16000, np.float32)
    parts = [p for name in names for p in (decode_audio(REAL / name), pause)]
    return np.concatenate(parts[:-1]), " ".join(references[name] for name in names)


# --- text ---------------------------------------------------------------------------------------

_normalizer = None


def normal_words(text: str) -> list[str]:
    global _normalizer
    if _normalizer is None:
        from whisper_normalizer.english import EnglishTextNormalizer

        _normalizer = EnglishTextNormalizer()
    return _normalizer(text).split()


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return round(
        jiwer.wer(" ".join(normal_words(reference)), " ".join(normal_words(hypothesis))), 4
    )


def word_lags(offline_words, live_words: list[tuple[str, float]], sent_at) -> list[float]:
    """Lag of each live word matched to an offline word (see the module docstring)."""
    reference = [" ".join(normal_words(w.word)) for w in offline_words]
    spoken = [" ".join(normal_words(text)) for text, _ in live_words]
    matcher = difflib.SequenceMatcher(a=reference, b=spoken, autojunk=False)
    lags = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            end = offline_words[block.a + k].end
            lags.append(live_words[block.b + k][1] - sent_at(end))
    return lags


# --- the server and the client ------------------------------------------------------------------


@contextmanager
def live_server():
    """The realtime server in a subprocess; yields its pid and the WebSocket URL."""
    with serving(lambda port: SERVER.format(port=port)) as (port, pid):
        yield pid, f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pcm24(audio: np.ndarray) -> bytes:
    import soxr

    resampled = soxr.resample(audio, 16000, RATE)
    return (np.clip(resampled, -1, 1) * 32767).astype("<i2").tobytes()


async def stream(url: str, pcm: bytes) -> dict:
    """Stream ``pcm`` in real time; every delta's words with their arrival times."""
    import websockets

    size = int(RATE * CHUNK_S) * 2
    chunks = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    chunks += [b"\0" * size] * int(2.0 / CHUNK_S)
    words: list[tuple[str, float]] = []
    items: dict[str, str] = {}
    async with websockets.connect(url, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await asyncio.sleep(1.0)  # the model loads on connect
        started = time.perf_counter()

        async def send() -> None:
            for index, chunk in enumerate(chunks):
                delay = started + (index + 1) * CHUNK_S - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk)}
                event["audio"] = event["audio"].decode()
                await ws.send(json.dumps(event))

        sender = asyncio.create_task(send())
        open_items: set[str] = set()
        while True:  # after the audio, until no item is open and 5 s pass quietly
            wait = 60 if not sender.done() or open_items else 5
            try:
                event = json.loads(await asyncio.wait_for(ws.recv(), wait))
            except TimeoutError:
                break
            kind, now = event["type"], time.perf_counter()
            if kind == "input_audio_buffer.speech_started":
                open_items.add(event["item_id"])
            elif kind.endswith("transcription.delta"):
                words += [(w, now - started) for w in event["delta"].split()]
            elif kind.endswith("transcription.completed"):
                items[event["item_id"]] = event["transcript"]
                open_items.discard(event["item_id"])
        await sender
    return {"words": words, "text": " ".join(items.values()), "items": len(items)}


def sent_at(end: float) -> float:
    """When the append holding audio time ``end`` was sent (stream seconds)."""
    return (int(end / CHUNK_S) + 1) * CHUNK_S


def summary(lags: list[float]) -> dict:
    if not lags:
        return {"median_lag_s": None, "p95_lag_s": None, "words_timed": 0}
    ordered = sorted(lags)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {
        "median_lag_s": round(statistics.median(ordered), 3),
        "p95_lag_s": round(p95, 3),
        "words_timed": len(ordered),
    }


def measure(name: str, audio: np.ndarray, reference: str, sessions: int) -> dict:
    import polymodal

    seconds = len(audio) / 16000
    started, cpu_started = time.perf_counter(), time.process_time()
    offline = polymodal.transcribe(audio, word_timestamps=True)
    offline_s = time.perf_counter() - started
    offline_cpu = time.process_time() - cpu_started
    offline_words = [w for s in offline.segments for w in s.words]
    pcm = pcm24(audio)
    result = {"file": name, "audio_s": round(seconds, 1), "load_before": os.getloadavg()}
    with live_server() as (pid, url):

        async def run(count: int) -> list[dict]:
            return await asyncio.gather(*(stream(url, pcm) for _ in range(count)))

        asyncio.run(stream(url, pcm[: RATE * 2 * 5]))  # warm: the model loads
        runs = {}
        for count in sorted({1, sessions}):
            cpu = cpu_seconds(pid)
            outcomes = asyncio.run(run(count))
            used = cpu_seconds(pid) - cpu
            lags = [x for o in outcomes for x in word_lags(offline_words, o["words"], sent_at)]
            first = outcomes[0]
            if SHOW_TEXT:
                print(f"[{name}, {count} session(s)] offline: {offline.text}", file=sys.stderr)
                for o in outcomes:
                    print(f"[{name}, {count} session(s)] live: {o['text']}", file=sys.stderr)
            runs[count] = {
                **summary(lags),
                "wer_vs_offline": wer(offline.text, first["text"]),
                "wer_vs_reference": wer(reference, first["text"]) if reference else None,
                "items": first["items"],
                "server_cpu_s_per_audio_s": round(used / (seconds * count), 3),
            }
    result["load_after"] = os.getloadavg()
    result["baseline"] = {
        "offline_real_time_factor": round(offline_s / seconds, 3),
        "cpu_s_per_audio_s": round(offline_cpu / seconds, 3),
        "wer_vs_reference": wer(reference, offline.text) if reference else None,
    }
    result["ours"] = runs[1]
    if sessions > 1:
        result["ours"]["two_sessions"] = runs[sessions]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the passage and one real file")
    parser.add_argument("--show-text", action="store_true", help="print offline and live texts")
    args = parser.parse_args()
    global SHOW_TEXT
    SHOW_TEXT = args.show_text
    with tempfile.TemporaryDirectory() as folder:
        passage, text = espeak_passage(Path(folder))
        files = [("espeak passage", passage, text, 2)]
        if REAL.is_dir():
            names = LONG_FILES[:1] if args.quick else LONG_FILES
            audio, reference = real_recording(names)
            files.append(("real: " + " + ".join(Path(n).stem for n in names), audio, reference, 1))
        else:
            print(f"{REAL} is absent: real speech skipped", file=sys.stderr)
        results = [measure(name, audio, ref, count) for name, audio, ref, count in files]
    print(json.dumps(report(results), indent=2))


def report(results: list[dict]) -> dict:
    ratio, goals = {}, {}
    for result in results:
        ours, base = result["ours"], result["baseline"]
        key = result["file"]
        cpu = ours["server_cpu_s_per_audio_s"] / max(base["cpu_s_per_audio_s"], 1e-9)
        ratio[key] = {"live_cpu_over_offline_cpu": round(cpu, 2)}
        if ours["wer_vs_reference"] is not None and base["wer_vs_reference"] is not None:
            diff = ours["wer_vs_reference"] - base["wer_vs_reference"]
            ratio[key]["wer_vs_reference_live_minus_offline"] = round(diff, 4)
        two = ours.get("two_sessions", {})
        goals[key] = {
            "median_lag_s <= 2.0": _met(ours["median_lag_s"], GOALS["median_lag_s"]),
            "p95_lag_s <= 3.5": _met(ours["p95_lag_s"], GOALS["p95_lag_s"]),
            "wer_vs_offline <= 0.02": _met(ours["wer_vs_offline"], GOALS["wer_over_offline"]),
        }
        if two:
            goals[key]["two_sessions median <= 3.0"] = _met(
                two["median_lag_s"], GOALS["two_median_s"]
            )
    return {
        "model": "whisper-base int8 (the default)",
        "cpus": os.cpu_count(),
        "baseline": {r["file"]: r["baseline"] for r in results},
        "ours": {r["file"]: r["ours"] for r in results},
        "ratio": ratio,
        "goals": goals,
        "load": {
            r["file"]: {"before": r["load_before"], "after": r["load_after"]} for r in results
        },
    }


def _met(value, limit) -> bool | None:
    return None if value is None else value <= limit


if __name__ == "__main__":
    main()
