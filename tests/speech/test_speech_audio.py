"""Safe audio decoding: every bad input gets its own sentence; good input decodes to 16 kHz."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.errors import BadInputError
from polymodal.media.audio import decode_audio, iter_audio_blocks, probe_duration

EXPECTED = {
    "text": "not an audio or video file",
    "empty": "empty (0 bytes)",
    "corrupt": "corrupt",
    "zero": "zero length",
    "video": "no audio stream",
    "missing": "no such file",
    "directory": "is a directory",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_input_names_file_and_problem(bad_files, kind):
    path = bad_files[kind]
    with pytest.raises(BadInputError) as caught:
        decode_audio(path)
    message = str(caught.value)
    assert EXPECTED[kind] in message and path.name in message
    assert "\n" not in message


def test_decodes_any_container_to_16k_mono(short_wav, clip_dir):
    import subprocess

    reference = decode_audio(short_wav)
    assert reference.dtype == np.float32 and reference.ndim == 1
    for suffix in ("mp3", "ogg", "m4a", "webm"):
        out = clip_dir / f"short.{suffix}"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(short_wav), "-ac", "2", str(out)],
            check=True,
        )
        decoded = decode_audio(out)
        assert abs(decoded.size - reference.size) < 16000 * 0.1, suffix
    assert probe_duration(short_wav) == pytest.approx(reference.size / 16000, abs=0.05)


def test_blocks_are_bounded_and_lossless(short_wav):
    whole = decode_audio(short_wav)
    blocks = list(iter_audio_blocks(short_wav, block_seconds=2.0))
    assert all(b.size <= 32000 for b in blocks)
    assert np.array_equal(np.concatenate(blocks), whole)


def test_array_input_is_checked():
    with pytest.raises(BadInputError):
        decode_audio(np.array([], dtype=np.float32))
    with pytest.raises(BadInputError):
        decode_audio(np.array([0.0, np.nan], dtype=np.float32))
    ints = decode_audio(np.array([0, 16384, -32768], dtype=np.int16))
    assert ints.dtype == np.float32 and ints.min() >= -1.0001
