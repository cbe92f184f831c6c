"""Progress reports and cancellation: one protocol for the CLI's bars and the server's jobs."""

from __future__ import annotations

import pytest

from polymodal.errors import CancelledError, PolymodalError
from polymodal.progress import CancelToken, Progress, Reporter, check_cancelled


def test_a_reporter_sends_stage_unit_and_counts():
    seen: list[Progress] = []
    report = Reporter(seen.append, "embed", "images")
    report(1, 4)
    report(4, 4)
    assert seen == [Progress("embed", 1.0, 4, "images"), Progress("embed", 4.0, 4, "images")]
    assert seen[0].fraction == 0.25 and Progress("x", 3, None).fraction is None


def test_a_set_token_stops_work_at_the_next_report():
    token = CancelToken()
    seen: list[Progress] = []
    report = Reporter(seen.append, "transcribe", "s", cancel=token)
    report(1, 10)
    token.cancel("client disconnected")
    with pytest.raises(CancelledError, match="client disconnected") as stopped:
        report(2, 10)
    assert len(seen) == 1
    assert isinstance(stopped.value, PolymodalError) and stopped.value.exit_code == 130


def test_no_token_never_cancels():
    check_cancelled(None)
    token = CancelToken()
    check_cancelled(token)
    token.cancel()
    with pytest.raises(CancelledError):
        check_cancelled(token)
