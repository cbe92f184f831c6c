"""Benchmark: the server's dynamic batching, on and off, measured in one run.

1. Text embeddings: ``POST /v1/embeddings`` (one short text per request, ``encoding_format``
   base64 as the official client sends it) at concurrency 1, 8 and 32 against two live
   servers, one with batching and one without (``ServerSettings.batching``), levels
   interleaved so machine drift hits both alike: throughput (requests/s) and p50/p95 latency.
   The model is a real-size ViT-B/32 CLIP with random weights (``CLIPConfig()``), on the
   default ONNX backend. Beside them, a direct library call (``polymodal.embed_texts`` of one
   text on the loaded encoder) gives the latency a request could at best have.
2. Short-clip transcriptions: ``POST /v1/audio/transcriptions`` of 3-7 s espeak-ng clips at
   concurrency 8, Whisper base (the packaged weights), shared decoder batches against one at a
   time: requests per minute.

Each server runs in its own process (``uvicorn`` on 127.0.0.1, a free port); the client sends
from this one. Every request loop is bounded in count and in time and talks only to
127.0.0.1. Goals: >= 3x embedding throughput at concurrency 32 from batching; p95 at
concurrency 1 within 10 % of the direct call; >= 2x transcription requests/min. Prints one
JSON object: ``baseline`` (batching off), ``ours`` (on), ``ratio``, ``goals`` with met flags.

    .venv/bin/python bench/server.py            # the issue's benchmark
    .venv/bin/python bench/server.py --quick    # fewer requests
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _serving import serving  # bench/_serving.py

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NOUNS = ("cat", "dog", "red car", "blue truck", "mountain lake", "city street", "beach", "forest")
CLIP_SENTENCES = (
    "Please buy milk and eggs on the way home.",
    "The meeting moves to Thursday afternoon.",
    "Remember to water the plants in the garden.",
    "The train leaves at seven in the morning.",
    "Call me back when you get this message.",
    "We need two more chairs for the party.",
    "The package arrived at the front door today.",
    "Turn left at the second traffic light.",
)
SERVER = """
import sys, uvicorn
from polymodal.server import ServerSettings, create_app
settings = ServerSettings(**{settings})
uvicorn.run(create_app(settings), host="127.0.0.1", port={port}, log_level="warning")
"""


@contextmanager
def server(settings: dict, deadline_s: float = 300.0):
    """A live ``polymodal`` server in a subprocess on 127.0.0.1; yields its port."""
    code = lambda port: SERVER.format(settings=repr(settings), port=port)  # noqa: E731
    with serving(code, deadline_s) as (port, _):
        yield port


def _post_json(connection: http.client.HTTPConnection, path: str, body: dict) -> dict:
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {data[:200]!r}")
    return json.loads(data)


def _post_audio(connection: http.client.HTTPConnection, audio: bytes) -> dict:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n",
    ]
    body = "".join(parts).encode() + audio + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    connection.request("POST", "/v1/audio/transcriptions", body, headers)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"transcription answered {response.status}: {data[:200]!r}")
    return json.loads(data)


def load(port: int, send, concurrency: int, requests: int, seconds: float) -> dict:
    """``requests`` calls of ``send(connection, n)`` from ``concurrency`` threads (one
    keep-alive connection each), stopping early after ``seconds``: throughput and latency."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while time.monotonic() < stop:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                start = time.perf_counter()
                send(connection, n)
                with lock:
                    latencies.append(time.perf_counter() - start)
        finally:
            connection.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "per_s": len(latencies) / elapsed,
        "per_min": 60 * len(latencies) / elapsed,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p95_ms": 1000 * float(np.percentile(latencies, 95)),
    }


def _text(n: int) -> str:
    """A distinct short text per request (no two requests embed the same words)."""
    return f"a photo of a {NOUNS[n % len(NOUNS)]}, number {n}"


def embed_request(connection: http.client.HTTPConnection, n: int) -> None:
    body = {"model": "clip", "input": _text(n), "encoding_format": "base64"}
    answer = _post_json(connection, "/v1/embeddings", body)
    assert len(base64.b64decode(answer["data"][0]["embedding"])) == 512 * 4


def direct_latency(encoder, count: int) -> dict:
    """One text per call straight into the library: the floor a request's latency sits on."""
    import polymodal

    times = []
    for n in range(count):
        start = time.perf_counter()
        polymodal.embed_texts([_text(10_000 + n)], model=encoder, cache=False)
        times.append(time.perf_counter() - start)
    return {
        "p50_ms": 1000 * float(np.percentile(times, 50)),
        "p95_ms": 1000 * float(np.percentile(times, 95)),
    }


def model_ceiling(encoder, repeats: int) -> dict:
    """What batching can gain on this machine at most: the text tower's time per text at
    batch 1 against batch 32 (best of ``repeats``, alternating), with no server around it."""
    texts = [_text(20_000 + n) for n in range(32)]
    best = {1: float("inf"), 32: float("inf")}
    for _ in range(repeats):
        for size in best:
            start = time.perf_counter()
            encoder.encode_texts(texts[:size])
            best[size] = min(best[size], (time.perf_counter() - start) / size)
    return {
        "ms_per_text_batch1": 1000 * best[1],
        "ms_per_text_batch32": 1000 * best[32],
        "batching_ceiling": best[1] / best[32],
    }


def embedding_runs(model_dir: Path, args) -> dict:
    """Both servers up at once, each concurrency level measured off then on."""
    import polymodal

    encoder = polymodal.get_encoder(str(model_dir))  # exports and checks the ONNX files once
    results: dict = {"direct": direct_latency(encoder, args.direct), "off": {}, "on": {}}
    results["model_only"] = model_ceiling(encoder, args.ceiling_repeats)
    common = {"clip_model": str(model_dir)}
    with server({**common, "batching": False}) as off, server({**common, "batching": True}) as on:
        for port in (off, on):  # load the model and warm each server up
            load(port, embed_request, 4, 16, 120)
        for concurrency in args.concurrency:
            count = args.requests * max(1, concurrency // 4)
            rounds: dict[str, list[dict]] = {"off": [], "on": []}
            for _ in range(args.rounds):  # alternating, so drift on the machine hits both
                for mode, port in (("off", off), ("on", on)):
                    rounds[mode].append(load(port, embed_request, concurrency, count, args.seconds))
            for mode, measured in rounds.items():
                results[mode][str(concurrency)] = max(measured, key=lambda r: r["per_s"])
        results["direct_after"] = direct_latency(encoder, args.direct)
    return results


def make_clips(folder: Path) -> list[bytes]:
    """The short clips, spoken by espeak-ng at 16 kHz mono."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, text in enumerate(CLIP_SENTENCES):
        path = folder / f"clip{index}.wav"
        if not path.exists():
            raw = path.with_suffix(".raw.wav")
            subprocess.run(["espeak-ng", "-s", "160", "-w", str(raw), text], check=True)
            convert = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(raw), "-ac", "1"]
            subprocess.run([*convert, "-ar", "16000", str(path)], check=True)
            raw.unlink()
        clips.append(path.read_bytes())
    return clips


def speech_runs(clips: list[bytes], args) -> dict:
    """Concurrency 8 of short clips through each server: requests per minute, and the
    texts (both servers must read each clip the same)."""
    texts: dict[str, dict[int, str]] = {"off": {}, "on": {}}
    results: dict = {}
    common = {"whisper_model": args.whisper}
    with server({**common, "batching": False}) as off, server({**common, "batching": True}) as on:
        for mode, port in (("off", off), ("on", on)):

            def send(connection, n, mode=mode):
                answer = _post_audio(connection, clips[n % len(clips)])
                texts[mode][n % len(clips)] = answer["text"]

            load(port, send, 1, 1, 300)  # loads the model
            results[mode] = load(port, send, 8, args.clip_requests, args.seconds * 4)
    results["same_texts"] = texts["off"] == texts["on"]
    return results


def _ratio(on: float, off: float) -> float:
    return on / off if off else float("nan")


def summary(embedding: dict, speech: dict | None) -> dict:
    on, off = embedding["on"], embedding["off"]
    direct_p95 = min(embedding["direct"]["p95_ms"], embedding["direct_after"]["p95_ms"])
    top = str(max(int(c) for c in on))
    ratio = {f"embeddings_c{c}_throughput": _ratio(on[c]["per_s"], off[c]["per_s"]) for c in on}
    ratio["embeddings_c1_p95_vs_direct"] = on["1"]["p95_ms"] / direct_p95 if "1" in on else None
    goals = {
        f"embeddings_c{top}_throughput_3x": ratio[f"embeddings_c{top}_throughput"] >= 3.0,
        "embeddings_c1_p95_within_10pct_of_direct": (
            ratio["embeddings_c1_p95_vs_direct"] is not None
            and ratio["embeddings_c1_p95_vs_direct"] <= 1.10
        ),
    }
    baseline = {"embeddings": off, "direct_call": embedding["direct"]}
    ours = {"embeddings": on}
    if speech is not None:
        baseline["transcriptions_c8"] = speech["off"]
        ours["transcriptions_c8"] = speech["on"]
        ratio["transcriptions_c8_per_min"] = _ratio(
            speech["on"]["per_min"], speech["off"]["per_min"]
        )
        goals["transcriptions_c8_2x"] = ratio["transcriptions_c8_per_min"] >= 2.0
        goals["transcriptions_same_texts"] = speech["same_texts"]
    return {"baseline": baseline, "ours": ours, "ratio": ratio, "goals": goals}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument("--concurrency", default="1,8,32", help="embedding concurrency levels")
    parser.add_argument("--requests", type=int, default=100, help="embedding requests per 4")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per level (best kept)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time bound per round")
    parser.add_argument("--ceiling-repeats", type=int, default=5, help="model-only repeats")
    parser.add_argument("--direct", type=int, default=200, help="direct library calls timed")
    parser.add_argument("--clip-requests", type=int, default=32, help="transcriptions per run")
    parser.add_argument("--whisper", default="whisper-base")
    parser.add_argument("--no-speech", action="store_true", help="skip the transcriptions")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pm-bench")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.quick:
        args.requests, args.seconds, args.direct, args.clip_requests = 40, 15.0, 60, 16
        args.ceiling_repeats = 3
    os.environ.setdefault("POLYMODAL_HOME", str(args.workdir / "home"))

    from polymodal.vision.synthetic import save_random_clip

    model_dir = args.workdir / "clip-vit-b32-random"
    if not (model_dir / "config.json").exists():
        save_random_clip(model_dir, tiny=False, seed=0)
    started = time.perf_counter()
    embedding = embedding_runs(model_dir, args)
    speech = None if args.no_speech else speech_runs(make_clips(args.workdir / "clips"), args)
    result = summary(embedding, speech)
    result["direct_after"] = embedding["direct_after"]
    result["model_only"] = embedding["model_only"]
    result["seconds"] = time.perf_counter() - started
    result["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    result["cpus"] = os.cpu_count()
    out = _rounded(result)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
