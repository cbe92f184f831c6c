"""The AMI meeting excerpts of ``real-speech/ami`` scored the way the field scores diarization.

Shared by the slow test and ``bench/speakers.py``: DER from ``pyannote.metrics`` with no collar
and overlapped speech counted, the whole 30 s of each file scored, against ``reference.rttm``;
and the speaker count found against the true one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AMI = ROOT.parent / "shared" / "data" / "real-speech" / "ami"
if not AMI.is_dir():  # a checkout beside the shared folder, or the data one level further up
    AMI = ROOT.parents[1] / "shared" / "data" / "real-speech" / "ami"


def reference() -> dict[str, object]:
    """File id -> the reference turns as a ``pyannote.core.Annotation``."""
    from pyannote.database.util import load_rttm

    return load_rttm(str(AMI / "reference.rttm"))


def score(diarize: Callable[[Path], object]) -> dict:
    """Per file DER (and parts), the count found and true; the mean and time-weighted DER.

    ``diarize(path)`` returns a :class:`~polymodal.speech.Diarization`.
    """
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from polymodal.errors import BadInputError

    total = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    rows = {}
    for name, truth in sorted(reference().items()):
        path = AMI / f"{name}.wav"
        try:
            turns = diarize(path).turns
        except BadInputError:  # no speech heard: everything missed
            turns = ()
        found = Annotation(uri=name)
        for i, turn in enumerate(turns):
            found[Segment(turn.start, turn.end), i] = turn.speaker
        uem = Timeline([Segment(0.0, 30.0)])
        parts = total(truth, found, uem=uem, detailed=True)
        rows[name] = {
            "der": round(float(parts["diarization error rate"]), 4),
            "found": len({t.speaker for t in turns}),
            "true": len(truth.labels()),
            "missed_s": round(float(parts["missed detection"]), 2),
            "false_alarm_s": round(float(parts["false alarm"]), 2),
            "confusion_s": round(float(parts["confusion"]), 2),
        }
    return {
        "mean_der": round(statistics.mean(r["der"] for r in rows.values()), 4),
        "total_der": round(abs(total), 4),
        "counts_within_one": sum(abs(r["found"] - r["true"]) <= 1 for r in rows.values()),
        "counts_exact": sum(r["found"] == r["true"] for r in rows.values()),
        "files": rows,
    }
