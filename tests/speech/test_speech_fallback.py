"""Decoding that does not loop: the fallback's choice, the token bound, the last-resort guard,
and loops left out of text and subtitles (kept, flagged, in JSON)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from polymodal.render import from_data, to_data
from polymodal.speech.formats import render_transcript
from polymodal.speech.generate import Hypothesis, best_attempt, max_length, retry
from polymodal.speech.options import DecodeOptions
from polymodal.speech.results import Segment, Transcript, TranscriptionInfo
from polymodal.speech.tokens import DecodedSegment, cut_loop, find_loop, split_segments

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-speech"


class _Tokens:
    """Token ids as the loop rules read them: timestamps from 100, end of text 99."""

    timestamp_begin = 100
    eot = 99

    @staticmethod
    def decode(tokens):
        return " ".join(f"w{t}" for t in tokens)


def _loop(confidence: float = -0.15) -> Hypothesis:
    return Hypothesis((1, 2) * 60, confidence, 0.1, 30.5)


def test_the_first_attempt_that_passes_wins_over_a_confident_loop():
    """The notes' case: beam search loops at -0.15, sampling at 0.2 passes both checks at
    -0.73. The old rule kept the loop, because it was more confident."""
    sampled = Hypothesis((5, 6, 7), -0.73, 0.1, 1.7, temperature=0.2)
    later = Hypothesis((8,), -0.2, 0.1, 1.1, temperature=0.4)
    calls = []

    class Model:
        def encode(self, features):
            return features

    class Engine:
        model = Model()

    def fake_generate(engine, output, tokenizers, previous, options, seconds, attempt):
        calls.append(attempt["sampling_temperature"])
        return [sampled if len(calls) == 1 else later]

    import polymodal.speech.generate as generate

    original = generate.generate
    generate.generate = fake_generate
    try:
        chosen = retry(Engine(), None, _Tokens, [], DecodeOptions(), _loop(), 10.0)
    finally:
        generate.generate = original
    assert chosen == sampled and calls == [0.2]


def test_when_every_attempt_fails_the_best_under_the_compression_limit_wins():
    unsure = Hypothesis((3,), -1.4, 0.1, 1.2, temperature=0.6)
    worse = Hypothesis((4,), -1.9, 0.1, 1.0, temperature=1.0)
    assert best_attempt([_loop(), unsure, worse], DecodeOptions()) == unsure
    loops = [_loop(-0.5), _loop(-0.3)]
    assert best_attempt(loops, DecodeOptions()) == loops[1]  # none under: best of all


def test_default_temperatures_are_whispers():
    assert DecodeOptions().temperatures == (0.2, 0.4, 0.6, 0.8, 1.0)


def test_tokens_per_window_are_bounded_by_its_length():
    assert max_length(4, 5.0) == 4 + 75 + 16
    assert max_length(100, 20.0) == 416
    assert max_length(223, 30.0) == 448  # never past Whisper's context


def test_a_loop_is_cut_after_its_second_repeat():
    begin = _Tokens.timestamp_begin
    tokens = (begin, 7, 8, begin + 50, begin + 50) + (1, 2) * 20 + (begin + 500,)
    assert find_loop([t for t in tokens if t < 99]) == (2, 2, 20)
    assert cut_loop(tokens, _Tokens, compressed=False) == (tokens[:9], 5)


def test_speech_that_repeats_a_little_is_not_a_loop():
    assert cut_loop((1, 2, 1, 2, 1, 2, 3, 4), _Tokens, compressed=False) is None
    assert cut_loop(tuple(range(40)), _Tokens, compressed=True) is None
    assert cut_loop((1, 2, 3, 4) * 3, _Tokens, compressed=True) is not None


def test_the_segments_from_a_cut_loop_on_are_flagged():
    """The sound segment before the loop stays unflagged: only the loop is left out of text."""
    output = Hypothesis((100, 7, 8, 150, 150, 1, 2, 1, 2), -0.1, 0.1, 20.0, loop_from=5)
    sound, looped = split_segments(output, _Tokens, 12.0)
    assert not sound.loop and sound.tokens == (7, 8)
    assert looped.loop and looped.end == 12.0 and looped.tokens == (1, 2, 1, 2)


def _transcript() -> Transcript:
    info = TranscriptionInfo("en", 1.0, 30.0, "whisper-base")
    sound = Segment(1, 0.0, 4.0, "The meeting starts at noon.", language="en")
    looped = Segment(2, 4.0, 30.0, "yeah, yeah,", suspect_reasons=("loop", "compression_ratio"))
    unsure = Segment(3, 30.0, 31.0, "Maybe.", suspect_reasons=("low_logprob",))
    return Transcript.of(info, (sound, looped, unsure))


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt"])
def test_loops_are_left_out_of_text_and_subtitles_by_default(fmt):
    transcript = _transcript()
    shown = render_transcript(transcript, fmt)
    assert "yeah" not in shown and "noon" in shown and "Maybe" in shown
    assert "yeah" in render_transcript(transcript, fmt, keep_loops=True)
    dropped = render_transcript(transcript, fmt, drop_suspect=True)
    assert "yeah" not in dropped and "Maybe" not in dropped and "noon" in dropped


def test_json_keeps_the_loop_flagged_and_round_trips():
    transcript = _transcript()
    data = to_data(transcript)
    assert data["segments"][1]["suspect_reasons"] == ["loop", "compression_ratio"]
    assert "yeah" in render_transcript(transcript, "json")
    assert from_data(Transcript, data) == transcript
    segment = DecodedSegment(0.0, 1.0, "hi", (5,), -0.2, 0.1, 1.1, loop=True, language="de")
    assert from_data(DecodedSegment, to_data(segment)) == segment
    hypothesis = Hypothesis((1, 2), -0.3, 0.2, 1.5, temperature=0.4, loop_from=1)
    assert from_data(Hypothesis, to_data(hypothesis)) == hypothesis


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _longest_run(words: list[str], longest_gram: int = 4) -> int:
    best = 1 if words else 0
    for n in range(1, longest_gram + 1):
        for start in range(len(words) - 2 * n + 1):
            gram, run = words[start : start + n], 1
            while words[start + run * n : start + (run + 1) * n] == gram:
                run += 1
            best = max(best, run)
    return best


def _meeting_mix(names: tuple[str, ...]) -> np.ndarray:
    """AMI excerpts mixed at equal loudness, so that their voices overlap (as the notes did)."""
    from faster_whisper import decode_audio

    parts = [decode_audio(str(REAL / "ami" / f"{name}.wav")) for name in names]
    size = min(len(p) for p in parts)
    mixed = sum(p[:size] / np.sqrt(np.mean(p[:size] ** 2)) for p in parts)
    return (mixed / np.abs(mixed).max() * 0.7).astype(np.float32)


@pytest.mark.slow
def test_a_primed_loop_on_overlapping_speech_runs_no_longer_than_plain(base):
    """Three AMI speakers at once, primed with "Yeah, yeah": the old fallback kept a run of 112
    "yeah," over 25 s. Ours must run no longer than plain faster-whisper's on the same audio."""
    if not (REAL / "ami" / "trn04.wav").exists():
        pytest.skip(f"the real recordings are not in {REAL}")
    audio = _meeting_mix(("trn04", "trn06", "trn08"))
    prompt = "Yeah, yeah, yeah, yeah."
    plain, _ = base.engine.model.transcribe(audio, initial_prompt=prompt)
    plain_run = _longest_run(_words(" ".join(s.text for s in plain)))
    ours = base.transcribe(audio, DecodeOptions(initial_prompt=prompt))
    assert _longest_run(_words(render_transcript(ours, "txt"))) <= plain_run
    assert _longest_run(_words(ours.text)) <= max(plain_run, 2)  # a cut loop keeps 2 repeats
    assert len(_words(ours.text)) >= 40  # the meeting's words, not one sentence and a loop
