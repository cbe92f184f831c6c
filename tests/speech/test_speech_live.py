"""Live transcription (polymodal.LiveSession): espeak-ng speech fed in 100 ms blocks, as a
microphone delivers it; the events must make sense to a caption display."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
import pytest
import soxr
from speech_clips import wer

import polymodal
from polymodal.media.audio import decode_audio
from polymodal.speech import DecodeOptions

BLOCK = 1600  # 100 ms at 16 kHz


def blocks(audio: np.ndarray, size: int = BLOCK):
    return [audio[i : i + size] for i in range(0, len(audio), size)]


def run(session, audio: np.ndarray, rate: int = 16000, size: int = BLOCK) -> list:
    events = []
    for block in blocks(audio, size):
        events += session.feed(block, rate)
    return events + session.finish()


def items(events) -> dict[str, dict]:
    """Per item: its events' kinds in order, its deltas joined, its completed transcript."""
    found: dict[str, dict] = defaultdict(lambda: {"kinds": [], "deltas": "", "completed": []})
    for event in events:
        item = found[event.item_id]
        item["kinds"].append(event.kind)
        if event.kind == "delta":
            item["deltas"] += event.delta
        if event.kind == "completed":
            item["completed"].append(event.transcript)
    return dict(found)


def check_protocol(events) -> dict[str, dict]:
    """Every item: started, deltas, stopped, committed, exactly one completed, in that order;
    the deltas concatenate exactly to the completed text."""
    found = items(events)
    for item_id, item in found.items():
        kinds = item["kinds"]
        assert kinds[0] == "speech_started", kinds
        assert kinds.count("completed") == 1 and kinds[-1] == "completed", kinds
        assert kinds.index("speech_stopped") < kinds.index("committed"), kinds
        assert item["deltas"] == item["completed"][0], item_id
    return found


@pytest.fixture(scope="module")
def short_audio(short_wav) -> np.ndarray:
    return decode_audio(short_wav)


@pytest.fixture(scope="module")
def short_live(tiny, short_audio):
    session = polymodal.LiveSession(tiny)
    peak = []

    def feed(block):
        out = session.feed(block)
        peak.append(session.buffered_seconds)
        return out

    events = [e for block in blocks(short_audio) for e in feed(block)] + session.finish()
    return events, max(peak), session


def test_deltas_build_the_completed_text_close_to_offline(short_live, short_result):
    events, _, _ = short_live
    found = check_protocol(events)
    text = " ".join(item["completed"][0] for item in found.values())
    assert text, "speech gave no text"
    assert wer(short_result.text, text) <= 0.15  # tiny.en, greedy while spoken: see the slow test
    deltas = [e.delta for e in events if e.kind == "delta"]
    assert len(deltas) > 2, "text should arrive while the speech goes on, not all at the end"
    assert all(d.startswith(" ") for d in deltas[1:] if not d.startswith("'"))


def test_text_arrives_before_the_speech_ends(short_live):
    """Captions: most words are committed before the item's speech stopped."""
    events, _, _ = short_live
    kinds = [e.kind for e in events]
    stopped = kinds.index("speech_stopped")
    early = "".join(e.delta for e in events[:stopped] if e.kind == "delta")
    total = "".join(e.delta for e in events if e.kind == "delta")
    assert len(early.split()) >= 0.6 * len(total.split())


def test_the_buffer_stays_bounded(short_live):
    _, peak, session = short_live
    options = session.options
    assert peak <= options.max_buffer_seconds + options.step_seconds + 0.5
    assert session.buffered_seconds == 0.0  # nothing held once the stream finished


def test_completed_words_are_timed_in_the_session(short_live, short_audio):
    events, _, _ = short_live
    words = [w for e in events if e.kind == "completed" for w in e.words]
    assert words and all(0 <= w.start <= w.end <= len(short_audio) / 16000 + 0.5 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


def test_silence_gives_no_items(tiny, noise_only_wav):
    session = polymodal.LiveSession(tiny)
    assert run(session, np.zeros(16000 * 4, np.float32)) == []
    assert run(session, decode_audio(noise_only_wav)) == []


def test_a_pause_ends_an_item(tiny, gap_wav):
    """Speech, 10 s of silence, speech: two items, the second chained to the first."""
    path, _, _ = gap_wav
    events = run(polymodal.LiveSession(tiny), decode_audio(path))
    found = check_protocol(events)
    assert len(found) == 2
    first, second = found
    committed = [e for e in events if e.kind == "committed"]
    assert committed[0].previous_item_id is None and committed[1].previous_item_id == first
    assert "pause" in found[first]["completed"][0].lower()
    assert "silence" in found[second]["completed"][0].lower()
    started = [e.audio_start_ms for e in events if e.kind == "speech_started"]
    assert started[1] - started[0] > 10_000


def test_24khz_pcm16_is_resampled(tiny, short_audio, short_result):
    pcm = (soxr.resample(short_audio, 16000, 24000) * 32767).astype(np.int16)
    events = run(polymodal.LiveSession(tiny), pcm, rate=24000, size=2400)
    text = " ".join(e.transcript for e in events if e.kind == "completed")
    assert wer(short_result.text, text) <= 0.1


def test_manual_commit_transcribes_the_held_audio(tiny, short_audio, short_result):
    options = polymodal.LiveOptions(turn_detection=False)
    session = polymodal.LiveSession(tiny, options)
    assert all(session.feed(block) == [] for block in blocks(short_audio))
    events = session.commit()
    assert events[0].kind == "committed"
    assert events[-1].kind == "completed"
    assert "".join(e.delta for e in events if e.kind == "delta") == events[-1].transcript
    assert wer(short_result.text, events[-1].transcript) <= 0.05
    with pytest.raises(polymodal.BadInputError, match="nothing to commit"):
        session.commit()


def test_manual_buffer_is_bounded(tiny):
    options = polymodal.LiveOptions(turn_detection=False, max_commit_seconds=2.0)
    session = polymodal.LiveSession(tiny, options)
    session.feed(np.zeros(16000, np.float32))
    with pytest.raises(polymodal.TooLargeError, match="commit or clear"):
        session.feed(np.zeros(16000 * 2, np.float32))


def test_clear_completes_the_item_with_what_was_said(tiny, short_audio):
    session = polymodal.LiveSession(tiny)
    events = []
    for block in blocks(short_audio[: 16000 * 6]):
        events += session.feed(block)
    events += session.clear()
    found = items(events)
    assert len(found) == 1
    (item,) = found.values()
    assert item["kinds"][-2:] == ["committed", "completed"]
    assert item["deltas"] == item["completed"][0]
    assert session.buffered_seconds == 0.0 and session.finish() == []


def test_commit_without_speech_is_refused(tiny):
    session = polymodal.LiveSession(tiny)
    session.feed(np.zeros(16000, np.float32))
    with pytest.raises(polymodal.BadInputError, match="no speech"):
        session.commit()


def test_sessions_share_a_model_in_threads(tiny, short_audio):
    results: dict[int, list] = {}

    def one(index: int) -> None:
        results[index] = run(polymodal.LiveSession(tiny), short_audio)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    texts = [" ".join(e.transcript for e in results[i] if e.kind == "completed") for i in (0, 1)]
    assert texts[0] and texts[0] == texts[1]  # fed the same blocks, read the same way


def test_bad_options_are_refused_with_a_sentence(tiny):
    with pytest.raises(polymodal.BadInputError, match="threshold"):
        polymodal.LiveOptions(vad_threshold=1.5)
    with pytest.raises(polymodal.BadInputError, match="English-only"):
        polymodal.LiveSession(tiny, polymodal.LiveOptions(decode=DecodeOptions(language="de")))
    with pytest.raises(polymodal.BadInputError, match="Hz"):
        polymodal.LiveSession(tiny).feed(np.zeros(100, np.float32), 1000)


@pytest.mark.slow
def test_passage_with_the_default_model_matches_offline(base, passage_wav, passage_result):
    """whisper-base on a 35 s, seven-sentence passage: within 0.05 WER of offline."""
    events = run(polymodal.LiveSession(base), decode_audio(passage_wav))
    found = check_protocol(events)
    text = " ".join(item["completed"][0] for item in found.values())
    assert wer(passage_result.text, text) <= 0.05
