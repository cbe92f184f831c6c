"""OpenAI's known speakers (``known_speaker_names[]`` + ``known_speaker_references[]``) as the
speech room's enrolment (:class:`polymodal.SpeakerOptions`).

Each reference is a data URL (``data:audio/wav;base64,...``) of a 2-10 s clip, OpenAI's rule.
The syntax and the pairing of names with references are checked in the route, before any
work; the clips are decoded on the speech worker into a private temporary folder, as files
named by their position (never by anything the client sent), measured, and handed to the
speakers room, whose voice prints need 2 s of actual speech in them. Every refusal is a 400
whose ``param`` names the field, and whose sentence names the clip by the client's own
words (``known_speaker_references[1]``), never by the server's path.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polymodal
from polymodal.errors import BadInputError, PolymodalError

NAMES = "known_speaker_names"
REFERENCES = "known_speaker_references"
MIN_SECONDS = 2.0
MAX_SECONDS = 10.0


def known_speakers(names: Sequence[str], references: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(name, data URL)`` pairs, or a 400 for names without references (or the reverse), a
    blank or repeated name, or a reference that is not a base64 data URL."""
    if len(names) != len(references):
        raise BadInputError(
            f"{len(names)} known speaker names came with {len(references)} references; give "
            "one reference clip per name, in the same order.",
            param=REFERENCES if len(names) > len(references) else NAMES,
        )
    cleaned = [name.strip() for name in names]
    for name in cleaned:
        if not name:
            raise BadInputError("A known speaker name is empty.", param=NAMES)
        if cleaned.count(name) > 1:
            raise BadInputError(f"The speaker name '{name}' is given twice.", param=NAMES)
    for index, reference in enumerate(references):
        _payload(reference, index)
    return tuple(zip(cleaned, references, strict=True))


def _payload(reference: str, index: int) -> str:
    """The base64 text of a data URL (``data:[<type>][;params];base64,<data>``)."""
    header, comma, payload = reference.strip().partition(",")
    if not header.lower().startswith("data:") or not comma:
        raise BadInputError(
            f"{REFERENCES}[{index}] is not a data URL: send each clip as "
            "data:audio/wav;base64,... (the server fetches no URLs).",
            param=REFERENCES,
        )
    if not header.lower().endswith(";base64"):
        raise BadInputError(
            f"{REFERENCES}[{index}] is a data URL without base64 encoding: use "
            "data:<type>;base64,<data>.",
            param=REFERENCES,
        )
    return payload


def _clip_bytes(reference: str, index: int) -> bytes:
    try:
        data = base64.b64decode(_payload(reference, index), validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(
            f"{REFERENCES}[{index}] holds no valid base64 data.", param=REFERENCES
        ) from None
    if not data:
        raise BadInputError(f"{REFERENCES}[{index}] is empty.", param=REFERENCES)
    return data


def _check_length(path: Path, index: int) -> None:
    """2-10 s by the container's own account (no decoding: a long clip is refused before
    any of it is read)."""
    try:
        seconds = polymodal.probe_audio(path)
    except BadInputError:
        raise BadInputError(
            f"{REFERENCES}[{index}] is not audio that ffmpeg can read.", param=REFERENCES
        ) from None
    if seconds is None:
        raise BadInputError(
            f"{REFERENCES}[{index}] does not say how long it is; send WAV, MP3, FLAC or OGG.",
            param=REFERENCES,
        )
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise BadInputError(
            f"{REFERENCES}[{index}] is {seconds:.1f} s long; a reference clip must be "
            f"{MIN_SECONDS:.0f}-{MAX_SECONDS:.0f} s.",
            param=REFERENCES,
        )


@contextmanager
def enrolled(speakers: tuple[tuple[str, str], ...] | None) -> Iterator[polymodal.SpeakerOptions]:
    """Speaker options for a diarized request: the clips written to a private folder for the
    duration of the work (``speakers`` may be empty: speakers labelled A, B, ...)."""
    with tempfile.TemporaryDirectory(prefix="polymodal-speakers-") as folder:
        clips: dict[str, Path] = {}
        for index, (name, reference) in enumerate(speakers or ()):
            path = Path(folder) / f"reference-{index}"
            path.write_bytes(_clip_bytes(reference, index))
            _check_length(path, index)
            clips[name] = path
        with _named_plainly(clips):
            yield polymodal.SpeakerOptions(enroll=clips)


@contextmanager
def _named_plainly(clips: dict[str, Path]) -> Iterator[None]:
    """The speakers room names an enrolment clip by its path and its ``param`` ``enroll``;
    the client reads the field it sent instead."""
    try:
        yield
    except PolymodalError as exc:
        message = str(exc)
        for index, path in enumerate(clips.values()):
            message = message.replace(f": {path}.", ".")
            message = message.replace(str(path), f"{REFERENCES}[{index}]")
        exc.args = (message,)
        if exc.param == "enroll":
            exc.param = REFERENCES
        raise
