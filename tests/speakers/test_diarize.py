"""Who spoke when: made conversations with known turns, diarized with the packaged encoder."""

from __future__ import annotations

import numpy as np
import pytest
from speaker_audio import as_tuples, attribution_share

from polymodal import catalog
from polymodal.errors import BadInputError
from polymodal.speech import Diarization, SpeakerOptions, diarize
from polymodal.speech.speakers.voices import VoiceEncoder


def test_voice_encoder_loads_offline_through_the_catalogue():
    encoder = catalog.load(None, "voice")
    assert isinstance(encoder, VoiceEncoder)
    assert encoder is catalog.load("resemblyzer", "voice")  # loaded once, reused
    vectors = encoder.embed_mels(np.random.default_rng(0).random((3, 160, 40), np.float32))
    assert vectors.shape == (3, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


@pytest.mark.parametrize(("name", "voices"), [("two", 2), ("three", 3)])
def test_speakers_are_counted_and_their_time_attributed(
    diarized, two_voices, three_voices, name, voices
):
    conversation = {"two": two_voices, "three": three_voices}[name]
    result = diarized[name]
    assert len(result.labels) == voices
    assert attribution_share(conversation.turns, as_tuples(result)) >= 0.9


def test_one_voice_stays_one_speaker(diarized, one_voice):
    assert diarized["one"].labels == ("SPEAKER_1",)
    assert attribution_share(one_voice.turns, as_tuples(diarized["one"])) >= 0.95


def test_labels_follow_first_appearance_and_turns_are_ordered(diarized):
    for result in diarized.values():
        assert result.turns[0].speaker == "SPEAKER_1"
        assert list(result.labels) == [f"SPEAKER_{i + 1}" for i in range(len(result.labels))]
        starts = [t.start for t in result.turns]
        assert starts == sorted(starts)
        assert all(t.end > t.start for t in result.turns)


def test_no_flicker_turns(diarized, three_voices):
    # True turns here are 4-6 s; a turn under a second would be a flicker.
    assert all(t.end - t.start >= 1.0 for t in diarized["three"].turns)
    assert len(diarized["three"].turns) <= len(three_voices.turns) + 1


def test_a_fixed_count_is_honoured(three_voices, one_voice):
    fewer = diarize(three_voices.audio, SpeakerOptions(speakers=2))
    assert len(fewer.labels) == 2
    exact = diarize(three_voices.audio, SpeakerOptions(speakers=3))
    assert attribution_share(three_voices.turns, as_tuples(exact)) >= 0.9
    assert len(diarize(one_voice.audio, SpeakerOptions(speakers=2)).labels) == 2


def test_bounds_clamp_the_count_found(three_voices, one_voice):
    assert len(diarize(three_voices.audio, SpeakerOptions(max_speakers=2)).labels) == 2
    assert len(diarize(one_voice.audio, SpeakerOptions(min_speakers=2)).labels) == 2
    within = diarize(three_voices.audio, SpeakerOptions(min_speakers=2, max_speakers=4))
    assert len(within.labels) == 3


def test_given_speech_regions_are_used(two_voices):
    regions = [(s, e) for s, e, _ in two_voices.turns]
    result = diarize(two_voices.audio, speech_regions=regions)
    assert len(result.labels) == 2
    assert attribution_share(two_voices.turns, as_tuples(result)) >= 0.95
    # Nothing is attributed outside the regions given.
    for turn in result.turns:
        assert any(s - 1e-3 <= turn.start and turn.end <= e + 1.0 for s, e in regions)


def test_enrolment_names_the_right_voice(two_voices, enrol_clips):
    options = SpeakerOptions(enroll={"Alice": enrol_clips["low"], "Bob": enrol_clips["high"]})
    result = diarize(two_voices.path, options)
    assert sorted(result.names.values()) == ["Alice", "Bob"]
    named = [(s, e, result.display(who)) for s, e, who in as_tuples(result)]
    truth = [(s, e, {"low": "Alice", "high": "Bob"}[v]) for s, e, v in two_voices.turns]
    # Under the identity mapping (names must match exactly), not the best mapping.
    agree = sum(
        min(e, fe) - max(s, fs)
        for s, e, v in truth
        for fs, fe, fv in named
        if v == fv and min(e, fe) > max(s, fs)
    )
    assert agree / sum(e - s for s, e, _ in truth) >= 0.9


def test_an_unknown_voice_stays_anonymous(two_voices, enrol_clips):
    options = SpeakerOptions(enroll={"Alice": enrol_clips["low"], "Carol": enrol_clips["stranger"]})
    result = diarize(two_voices.audio, options)
    assert list(result.names.values()) == ["Alice"]
    anonymous = [label for label in result.labels if label not in result.names]
    assert len(anonymous) == 1 and anonymous[0].startswith("SPEAKER_")
    assert result.display(anonymous[0]) == anonymous[0]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_bad_speaker_counts(value):
    with pytest.raises(BadInputError, match="positive whole number"):
        SpeakerOptions.parse(value, None, None, [])


def test_parse_accepts_auto_and_counts(enrol_clips):
    assert SpeakerOptions.parse("auto", 2, 3, []) == SpeakerOptions("auto", 2, 3, {})
    options = SpeakerOptions.parse("2", None, None, [f"Alice={enrol_clips['low']}"])
    assert options.speakers == 2 and options.enroll == {"Alice": enrol_clips["low"]}


def test_min_above_max():
    with pytest.raises(BadInputError, match=r"minimum number of speakers \(3\) is above"):
        SpeakerOptions.parse("auto", 3, 2, [])
    with pytest.raises(BadInputError, match="positive whole number"):
        SpeakerOptions(min_speakers=0)


def test_enrolment_items_are_checked(tmp_path, enrol_clips):
    with pytest.raises(BadInputError, match="not found"):
        SpeakerOptions.parse("auto", None, None, [f"Alice={tmp_path / 'nope.wav'}"])
    with pytest.raises(BadInputError, match="enrolled twice"):
        SpeakerOptions.parse(
            "auto", None, None, [f"A={enrol_clips['low']}", f"A={enrol_clips['high']}"]
        )
    with pytest.raises(BadInputError, match="NAME=CLIP"):
        SpeakerOptions.parse("auto", None, None, ["Alice"])


def test_enrolment_clip_that_is_not_audio(tmp_path, two_voices):
    text = tmp_path / "notes.wav"
    text.write_text("these are meeting notes, not a recording")
    with pytest.raises(BadInputError, match="Enrolment clip for 'Alice' is not usable audio"):
        diarize(two_voices.audio, SpeakerOptions(enroll={"Alice": text}))


def test_enrolment_clip_too_short(short_clip, two_voices):
    with pytest.raises(BadInputError, match="at least 2 s"):
        diarize(two_voices.audio, SpeakerOptions(enroll={"Alice": short_clip}))


def test_audio_with_no_speech(silence, tmp_path):
    with pytest.raises(BadInputError, match="no speech"):
        diarize(silence)
    with pytest.raises(BadInputError, match="no speech"):
        diarize(np.random.default_rng(1).normal(0, 1e-4, 16000 * 3).astype(np.float32))
    with pytest.raises(BadInputError, match="no speech"):
        diarize(silence, speech_regions=[])


def test_missing_audio_file(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        diarize(tmp_path / "missing.wav")


def test_diarization_is_a_frozen_record(diarized):
    result: Diarization = diarized["two"]
    with pytest.raises(AttributeError):
        result.turns = ()  # type: ignore[misc]


class ToneEncoder:
    """Stands in for the voice encoder: a window's vector is the shape of its mel spectrum,
    so two pure tones are two clearly different "voices"."""

    dimension = 40

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        from polymodal.vectors import unit_rows

        spectrum = np.log(mels.mean(axis=1) + 1e-6)
        return unit_rows(spectrum - spectrum.mean(axis=1, keepdims=True))


def test_a_file_is_diarized_block_by_block_with_the_encoder_given(tmp_path, monkeypatch):
    from scipy.io import wavfile

    from polymodal.speech.speakers import diarizer as diarize_module

    rate, turn, pause = 16000, 4.0, 0.5
    t = np.arange(int(rate * turn)) / rate
    gap = np.zeros(int(rate * pause))
    tones = [np.concatenate([np.sin(2 * np.pi * f * t) * 0.3, gap]) for f in (220.0, 2600.0) * 2]
    path = tmp_path / "tones.wav"
    wavfile.write(path, rate, (np.concatenate(tones) * 32767).astype(np.int16))
    step = turn + pause
    truth = [(i * step, i * step + turn, "low" if i % 2 == 0 else "high") for i in range(4)]
    original, sizes = diarize_module.iter_audio_blocks, []

    def small_blocks(audio, block_seconds=300.0):
        for block in original(audio, block_seconds=5.0):
            sizes.append(block.size)
            yield block

    monkeypatch.setattr(diarize_module, "iter_audio_blocks", small_blocks)
    result = diarize(path, speech_regions=[(s, e) for s, e, _ in truth], model=ToneEncoder())
    assert len(sizes) >= 3 and max(sizes) <= 5 * rate, "read in blocks, not whole"
    assert result.labels == ("SPEAKER_1", "SPEAKER_2")
    assert attribution_share(truth, as_tuples(result)) >= 0.9
