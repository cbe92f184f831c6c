"""Speaker turns as NIST RTTM, the format diarization scorers read (``pyannote.metrics``,
``dscore``, NIST md-eval).

One line a turn: ``SPEAKER <file-id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``,
times in seconds with millisecond precision. The speaker field is the label (``SPEAKER_n``) or,
where an enrolment matched, the enrolled name, as every other rendering shows it; RTTM fields
are separated by spaces, so spaces in a name become underscores. The writer is atomic: a
reader never sees half a file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from polymodal.media.files import write_atomic
from polymodal.speech.results import Diarization


def rttm_file_id(source: str | os.PathLike[str] | None) -> str:
    """The RTTM file id of a recording: its file name without the suffix (what scorers match
    against the reference's file ids); ``"audio"`` for samples that came from no file."""
    return Path(source).stem if source else "audio"


def _field(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip()) or "NA"


def to_rttm(diarization: Diarization, file_id: str = "audio") -> str:
    """The turns of ``diarization`` as RTTM text, one ``SPEAKER`` line each, in time order."""
    name = _field(file_id)
    lines = [
        f"SPEAKER {name} 1 {turn.start:.3f} {turn.end - turn.start:.3f} <NA> <NA> "
        f"{_field(diarization.display(turn.speaker))} <NA> <NA>"
        for turn in sorted(diarization.turns, key=lambda t: (t.start, t.end))
        if turn.end > turn.start
    ]
    return "".join(line + "\n" for line in lines)


def write_rttm(
    diarization: Diarization,
    path: str | os.PathLike[str],
    file_id: str = "audio",
) -> Path:
    """Write the turns to ``path`` as RTTM (atomically) and return the path."""
    target = Path(path)
    write_atomic(target, to_rttm(diarization, file_id))
    return target
