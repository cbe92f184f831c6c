"""Transcription on real speech with the packaged weights: accuracy, language, timing, silence.

Word error rate bounds: on these espeak-ng passages whisper-base measured 0.03-0.06 (plain
faster-whisper with its defaults 0.04-0.06) and tiny.en 0.04-0.14. The bounds (0.15 and 0.25)
leave room for run-to-run and platform variation yet fail on real breakage: a dropped or
duplicated chunk alone costs 0.3 or more.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from speech_clips import PASSAGE, SHORT, SPANISH, wer

from polymodal.errors import BadInputError
from polymodal.render import from_data, to_data
from polymodal.speech import DecodeOptions, Transcript

pytestmark = pytest.mark.slow


def test_default_model_is_accurate_on_english(passage_result):
    assert wer(PASSAGE, passage_result.text) < 0.15
    assert passage_result.info.model == "whisper-base"


def test_language_is_detected_with_probability(passage_result, spanish_result):
    assert passage_result.info.language == "en"
    assert passage_result.info.language_probability > 0.5
    assert spanish_result.info.language == "es"
    assert spanish_result.info.language_probability > 0.5
    assert wer(SPANISH, spanish_result.text) < 0.5  # base on robotic Spanish: the gist


def test_translate_gives_english(translated_result):
    text = translated_result.text.lower()
    assert translated_result.info.task == "translate"
    assert "family" in text and "music" in text
    assert "familia" not in text and "música" not in text


def test_tiny_english_model_is_usable(short_result):
    assert wer(SHORT, short_result.text) < 0.25
    assert short_result.info.language == "en"


def test_segment_and_word_times_are_ordered_and_inside(passage_result):
    duration = passage_result.info.duration
    assert 30 < duration < 45
    previous_end = 0.0
    for segment in passage_result.segments:
        assert 0 <= segment.start <= segment.end <= duration + 0.01
        assert segment.start >= previous_end - 0.01
        previous_end = segment.end
        assert segment.words, "word timestamps were asked for"
        for word in segment.words:
            assert segment.start - 0.01 <= word.start <= word.end <= segment.end + 0.01
            assert 0.0 <= word.probability <= 1.0
    last_word = passage_result.segments[-1].words[-1]
    assert last_word.end > duration - 5, "the end of the passage was transcribed"


def test_silent_stretch_yields_no_words(gap_result, gap_wav):
    _, silence_start, silence_end = gap_wav
    words = [w for s in gap_result.segments for w in s.words]
    inside = [w for w in words if w.end > silence_start + 0.5 and w.start < silence_end - 0.5]
    assert not inside, f"words placed in the silence: {inside}"
    assert any(w.end <= silence_start + 0.5 for w in words)
    assert any(w.start >= silence_end - 0.5 for w in words)
    assert "second part" in gap_result.text.lower()


def test_noise_padding_adds_no_text(noisy_result, noisy_wav):
    _, speech_start, speech_end = noisy_wav
    assert wer(SHORT, noisy_result.text) < 0.3
    for segment in noisy_result.segments:
        assert segment.end > speech_start - 1.0 and segment.start < speech_end + 1.0
        assert "stock_phrase" not in segment.suspect_reasons


def test_clean_speech_is_not_flagged(passage_result):
    flagged = [s for s in passage_result.segments if s.suspect]
    assert len(flagged) <= 1, [(s.text, s.suspect_reasons) for s in flagged]


def test_json_carries_everything(passage_result):
    data = to_data(passage_result)
    assert data["language"] == "en" and data["duration"] == passage_result.info.duration
    assert data["text"] == passage_result.text
    segment = data["segments"][0]
    for key in ("start", "end", "text", "avg_logprob", "no_speech_prob", "suspect", "words"):
        assert key in segment
    assert {"start", "end", "word", "probability"} <= set(segment["words"][0])
    assert [s["id"] for s in data["segments"]] == list(range(1, len(data["segments"]) + 1))
    assert from_data(Transcript, data) == passage_result


def test_noise_only_is_reported_as_no_speech(tiny, noise_only_wav):
    with pytest.raises(BadInputError, match="no speech"):
        tiny.transcribe(noise_only_wav)


def test_stream_in_small_blocks_matches_whole_file(tiny, short_wav, short_result, monkeypatch):
    """Bounded-memory streaming: decoding in 7 s blocks gives the same words."""
    from polymodal.media import audio
    from polymodal.speech import transcriber

    original = audio.iter_audio_blocks
    seen = []

    def small_blocks(path, block_seconds=300.0):
        for block in original(path, block_seconds=7.0):
            seen.append(block.size)
            yield block

    monkeypatch.setattr(transcriber, "iter_audio_blocks", small_blocks)
    segments, info = tiny.stream(short_wav)
    streamed = " ".join(s.text for s in segments)
    assert len(seen) >= 3 and max(seen) <= 7 * 16000
    assert wer(short_result.text, streamed) < 0.1
    assert info.language == "en"


def test_array_input_and_progress(tiny, short_wav):
    from polymodal.media.audio import decode_audio

    reports = []
    result = tiny.transcribe(decode_audio(short_wav)[: 16000 * 8], progress=reports.append)
    assert result.text
    assert {(r.stage, r.unit) for r in reports} == {("transcribe", "s")}
    assert reports and reports[-1].done == pytest.approx(8.0, abs=0.1)
    assert all(b.done >= a.done for a, b in itertools.pairwise(reports))


def test_short_audio_is_encoded_in_a_shorter_context_without_losing_words(base, short_wav):
    """A clip under 30 s needs no 30 s encoder pass: the default reads its length plus a margin,
    ``full_audio_context`` pads to 30 s as Whisper does; both must read the clip right."""
    shapes: list[tuple[int, ...]] = []
    encode = base.engine.model.encode

    def counting(features, *args, **kwargs):
        shapes.append(tuple(np.asarray(features).shape))
        return encode(features, *args, **kwargs)

    base.engine.model.encode = counting
    try:
        fitted = base.transcribe(short_wav)
        fitted_shapes, shapes[:] = list(shapes), []
        full = base.transcribe(short_wav, DecodeOptions(full_audio_context=True))
    finally:
        del base.engine.model.encode
    assert fitted_shapes and all(s[-1] < 3000 for s in fitted_shapes)
    assert fitted_shapes[0][-1] >= fitted.info.duration * 100
    assert shapes and all(s[-1] == 3000 for s in shapes)
    assert wer(SHORT, fitted.text) < 0.15
    assert wer(SHORT, full.text) < 0.15


def test_cancel_stops_between_windows(tiny, passage_wav):
    from polymodal.errors import CancelledError
    from polymodal.progress import CancelToken

    token = CancelToken()
    reports = []

    def cancel_at_first_window(report):
        reports.append(report)
        token.cancel("interrupted")

    with pytest.raises(CancelledError, match="interrupted"):
        tiny.transcribe(passage_wav, progress=cancel_at_first_window, cancel=token)
    assert len(reports) == 1 and reports[0].done < 35, "stopped after the first window"
