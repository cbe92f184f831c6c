"""The Transcribe tab while its stream is under way, in Debian's Chromium: the text is shown as
the server sends it, before the rest of the transcription is done, and an error sent
mid-stream is shown as the server's sentence with the text heard so far kept. The server's
transcriber here is a stand-in that waits for the test's word after its first segment, so
"before" is certain rather than a race (the real decoding is tested in ``test_page.py``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from _browser import artifacts, chromium
from _server_helpers import serving

import polymodal
from polymodal.server import create_app
from polymodal.speech import Segment

#: No model runs here; the page answers in well under this even on a loaded machine.
WAIT_MS = 30_000


class _HeldAfterOneSegment:
    """A transcriber that sends one segment, then waits for the test's word before the rest
    (two voices, the second line suspect)."""

    model_name = "whisper-fake"
    release = threading.Event()

    def __init__(self, name: str | None) -> None:
        pass

    def transcribe_stream(self, path, options, *, speakers, cancel):
        first = Segment(id=1, start=0.0, end=1.5, text=" Hello there.", speaker="S0", language="en")
        yield first
        for _ in range(600):  # 30 s at most; the test releases it in well under that
            cancel.raise_if_cancelled()
            if self.release.wait(0.05):
                break
        second = Segment(
            id=2,
            start=1.5,
            end=3.0,
            text=" Goodbye now.",
            suspect_reasons=("low_logprob",),
            speaker="S1",
            language="en",
        )
        yield second
        yield polymodal.Transcript(
            source=None,
            model=self.model_name,
            task="transcribe",
            language="en",
            language_probability=1.0,
            duration=3.0,
            segments=(first, second),
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def panel(browser, server_settings, monkeypatch, request, tmp_path):
    """The Transcribe tab of a page served with the held transcriber; a screenshot when the
    test ends, and no script error in the page."""
    monkeypatch.setattr(polymodal, "Transcriber", _HeldAfterOneSegment)
    _HeldAfterOneSegment.release.clear()
    with serving(create_app(server_settings)) as base:
        context = browser.new_context()
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{base}/#transcribe")
        page.wait_for_selector("body[data-ready=true]")
        try:
            yield page.locator("#panel-transcribe")
        finally:
            _HeldAfterOneSegment.release.set()
            shot = artifacts(tmp_path) / f"{request.node.name}.png"
            page.screenshot(path=str(shot), full_page=True)
            context.close()
    assert not problems, problems


def test_transcribe_shows_the_text_while_the_server_is_still_working(panel, speech_wav):
    panel.get_by_label("Audio or video file").set_input_files(str(speech_wav))
    live = panel.locator("[aria-live=polite]")
    live.filter(has_text="Hello there.").wait_for(timeout=WAIT_MS)
    assert panel.locator(".status").is_visible() and not panel.locator(".segment").count()
    _HeldAfterOneSegment.release.set()
    panel.locator(".segment").nth(1).wait_for(timeout=WAIT_MS)
    assert panel.locator(".segment .who").all_inner_texts() == ["A", "B"]
    assert panel.locator(".segment .lang").all_inner_texts() == ["english", "english"]
    suspect = panel.locator(".segment.suspect")
    assert suspect.count() == 1 and "low_logprob" in suspect.inner_text()
    assert "Goodbye now." in suspect.inner_text()
    summary = panel.locator(".summary").inner_text()
    assert "english" in summary and "2 speaker(s)" in summary and "1 to check" in summary
    assert not panel.locator(".status").is_visible()


def test_transcribe_keeps_the_text_heard_and_shows_an_error_sent_mid_stream(panel, speech_wav):
    sentence = "The uploaded file is corrupt after 1.5 s."
    events = [
        {"type": "transcript.text.delta", "delta": "Hello there."},
        {"error": {"message": sentence, "type": "invalid_request_error", "param": "file"}},
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)  # as the server sends them
    panel.page.route(
        "**/v1/audio/transcriptions",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    panel.get_by_label("Audio or video file").set_input_files(str(speech_wav))
    alert = panel.locator("[role=alert]")
    alert.wait_for(timeout=WAIT_MS)
    assert alert.inner_text() == sentence
    assert panel.locator("[aria-live=polite]").inner_text() == "Hello there."
    assert not panel.locator(".segment").count() and not panel.locator(".status").is_visible()
