"""Benchmark: what speaker labels cost on top of transcription, and how right they are.

A 2-3 minute conversation of three espeak-ng voices (turns of 1-2 sentences, short pauses; the
true turn times are known) is transcribed with the default model (whisper-base) twice in the
same run: plain (``baseline``) and with ``speakers=SpeakerOptions()`` (``ours``: diarization,
word timestamps and labelling). ``ratio`` is ours ÷ baseline speed, so 0.8 means speaker labels
add 25 % to the wall time (the goal is ``ratio`` ≥ 0.8). Also reported: diarization alone, the
share of speech time attributed to the right speaker (best label mapping) and the count found;
and, where ``../shared/data/real-speech/ami`` exists, ``diarize`` on the AMI meeting excerpts:
DER per file (``pyannote.metrics``, no collar, overlap counted) with the count found and true.

    .venv/bin/python bench/speakers.py            # 3 minutes of audio, 3 rounds
    .venv/bin/python bench/speakers.py --quick    # ~1 minute, 1 repetition
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "speakers")]

from ami import AMI, score  # noqa: E402  (tests/speakers/ami.py: AMI scored with pyannote)
from conftest import speak  # noqa: E402  (tests/conftest.py: the espeak-ng helper)
from speaker_audio import as_tuples, attribution_share, build  # noqa: E402

VOICES = ("low", "high", "third")


def script(turns: int) -> list[tuple[str, int]]:
    """Turns cycling through the voices in a varied order, 1 or 2 sentences each."""
    order = [0, 1, 2, 0, 2, 1, 1, 0, 2, 2, 0, 1]
    return [(VOICES[order[i % len(order)]], 1 + (i % 3 == 0)) for i in range(turns)]


def interleaved(jobs: dict, repeats: int) -> tuple[dict[str, float], dict[str, object]]:
    """Median wall time of each job, the jobs run in turn each round so that load from other
    processes on a shared machine falls on all of them alike; and each job's last result."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, job in jobs.items():
            start = time.perf_counter()
            results[name] = job()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def word_shares(truth, transcript) -> float:
    """Share of word time whose speaker is right (best mapping); a word's true speaker is the
    true turn it overlaps most."""

    def true_voice(start: float, end: float) -> str:
        return max(truth, key=lambda t: min(t[1], end) - max(t[0], start))[2]

    words = [w for s in transcript.segments for w in s.words if w.end > w.start]
    said = [(w.start, w.end, true_voice(w.start, w.end)) for w in words]
    heard = [(w.start, w.end, w.speaker) for w in words]
    return attribution_share(said, heard, step=0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute of audio, once")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    from polymodal.speech import DecodeOptions, SpeakerOptions, Transcriber, diarize
    from polymodal.speech.chunks import speech_regions

    with tempfile.TemporaryDirectory() as folder:
        conversation = build(speak, script(10 if args.quick else 28), Path(folder))
        audio = conversation.audio
        duration = len(audio) / 16000
        transcriber = Transcriber()  # the default model, loaded once
        auto = SpeakerOptions()
        # Warm-up: model loads, first-call costs (librosa, the voice encoder) out of the timing.
        transcriber.transcribe(audio[: 16000 * 20], speakers=auto)

        seconds, results = interleaved(
            {
                "plain": lambda: transcriber.transcribe(audio),
                "words": lambda: transcriber.transcribe(audio, DecodeOptions(word_timestamps=True)),
                "speakers": lambda: transcriber.transcribe(audio, speakers=auto),
                "diarize": lambda: diarize(audio, auto),
                "silero": lambda: speech_regions(audio),
            },
            repeats,
        )
    plain_s, words_s, with_s = seconds["plain"], seconds["words"], seconds["speakers"]
    alone_s, silero_s = seconds["diarize"], seconds["silero"]
    labelled, diarization = results["speakers"], results["diarize"]

    truth = conversation.turns
    result = {
        "audio_seconds": round(duration, 1),
        "model": transcriber.model_name,
        "true_speakers": len(conversation.voices),
        "true_turns": len(truth),
        "baseline": {
            "what": "transcribe (whisper-base, defaults), no speakers",
            "seconds": round(plain_s, 2),
            "realtime_factor": round(duration / plain_s, 2),
        },
        "ours": {
            "what": "transcribe with speakers='auto' (diarize + word timestamps + labelling)",
            "seconds": round(with_s, 2),
            "realtime_factor": round(duration / with_s, 2),
            "speakers_found": len(labelled.speakers),
            "attribution_share_words": round(word_shares(truth, labelled), 4),
        },
        "ratio": round(plain_s / with_s, 3),
        "added_wall_time": round(with_s / plain_s - 1, 3),
        "breakdown": {
            "transcribe_with_word_timestamps_seconds": round(words_s, 2),
            "word_timestamps_added": round(words_s / plain_s - 1, 3),
            "silero_vad_pass_seconds": round(silero_s, 2),
            "speakers_added_over_word_timestamps": round(with_s / words_s - 1, 3),
        },
        "diarize_alone": {
            "seconds": round(alone_s, 2),
            "share_of_baseline": round(alone_s / plain_s, 3),
            "speakers_found": len(diarization.labels),
            "turns_found": len(diarization.turns),
            "attribution_share": round(attribution_share(truth, as_tuples(diarization)), 4),
        },
        "repeats": repeats,
        "threads": os.cpu_count(),
    }
    if AMI.is_dir():
        start = time.perf_counter()
        result["ami"] = score(lambda path: diarize(path, auto))
        result["ami"]["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
