"""The Live tab in a real browser: Debian's Chromium with its fake microphone playing espeak-ng
speech, the page's AudioWorklet and realtime socket against a live server with Whisper tiny.en;
captions must appear, match the words, carry speaker letters when asked, and errors must read
as sentences."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _browser import artifacts, chromium
from _server_helpers import API_KEY, serving

from polymodal.server import create_app
from polymodal.server.openai.realtime import RealtimeLimits

FIRST = "The first part of the message is spoken before a long pause."
SECOND = "Every morning the baker opens his shop before the sun rises."
LOW = {"voice": "en-us+m3", "pitch": 35}
HIGH = {"voice": "en-us+f2", "pitch": 80}
FAKE_MIC = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")


def overlap(said: str, heard: str) -> float:
    """The share of the spoken words found in the caption (case and punctuation aside)."""
    import re

    def words(text: str) -> list[str]:
        return re.sub(r"[^a-z' ]+", " ", text.lower()).split()

    heard_words = set(words(heard))
    spoken = words(said)
    return sum(w in heard_words for w in spoken) / len(spoken)


@pytest.fixture(scope="module")
def two_voices_wav(tmp_path_factory, speak_to) -> Path:
    """A low voice, 1.5 s of silence, a high voice, 2 s of silence, as a 48 kHz 16-bit WAV
    (a microphone's usual rate: the worklet must resample it). Chromium loops the file."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (run scripts/setup.sh)")
    folder = tmp_path_factory.mktemp("page-live")
    first = speak_to(FIRST, folder / "first.wav", **LOW)
    second = speak_to(SECOND, folder / "second.wav", **HIGH)
    out = folder / "mic.wav"
    pieces = []
    for path, pause in ((first, "1.5"), (second, "2")):
        padded = path.with_suffix(".padded.wav")
        subprocess.run(["sox", path, padded, "pad", "0", pause], check=True, capture_output=True)
        pieces.append(padded)
    command = ["sox", *pieces, "-r", "48000", "-b", "16", out]
    subprocess.run(command, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def page_url(server_settings):
    with serving(create_app(replace(server_settings, api_key=API_KEY))) as url:
        yield url


def open_live(browser, url: str, key: str | None = API_KEY):
    page = browser.new_page()
    page.goto(f"{url}/#live")
    page.wait_for_selector("body[data-ready='true']")
    if key is not None:
        page.fill("#api-key", key)
    page.click("#tab-live")
    return page


def test_captions_appear_with_speaker_letters(page_url, two_voices_wav, tmp_path):
    args = (*FAKE_MIC, f"--use-file-for-fake-audio-capture={two_voices_wav}")
    with chromium(args) as browser:
        page = open_live(browser, page_url)
        panel = page.locator("#panel-live")
        panel.get_by_label("Label speakers").check()
        panel.get_by_role("button", name="Start").click()
        finals = panel.locator(".live-line.final")
        finals.nth(1).wait_for(timeout=120_000)
        page.screenshot(path=str(artifacts(tmp_path) / "live-captions.png"), full_page=True)
        lines = [finals.nth(i) for i in range(2)]
        texts = [line.locator(".live-said").inner_text() for line in lines]
        letters = [line.get_attribute("data-speaker") for line in lines]
        panel.get_by_role("button", name="Stop").click()
        page.wait_for_selector("#panel-live[data-state='idle']", timeout=30_000)
        alerts = panel.locator("[role='alert']:visible")
        assert alerts.count() == 0, alerts.all_inner_texts()
        assert panel.locator(".live-captions").get_attribute("aria-live") == "polite"
    assert overlap(FIRST, texts[0]) >= 0.6, texts  # tiny.en on espeak-ng: lenient
    assert overlap(SECOND, texts[1]) >= 0.6, texts
    assert letters == ["A", "B"], (letters, texts)


def test_a_wrong_key_is_a_sentence(page_url, tmp_path):
    with chromium(FAKE_MIC) as browser:
        page = open_live(browser, page_url, key="not-the-key")
        panel = page.locator("#panel-live")
        panel.get_by_role("button", name="Start").click()
        alert = panel.locator("[role='alert']:visible")
        alert.wait_for(timeout=30_000)
        text = alert.inner_text()
        page.wait_for_selector("#panel-live[data-state='idle']")
        page.screenshot(path=str(artifacts(tmp_path) / "live-wrong-key.png"))
    assert "did not accept the live connection" in text, text
    assert "check the API key" in text, text


def test_a_refused_microphone_is_a_sentence(page_url):
    with chromium() as browser:
        context = browser.new_context(permissions=[])
        page = context.new_page()
        page.goto(f"{page_url}/#live")
        page.wait_for_selector("body[data-ready='true']")
        panel = page.locator("#panel-live")
        panel.get_by_role("button", name="Start").click()
        alert = panel.locator("[role='alert']:visible")
        alert.wait_for(timeout=30_000)
        text = alert.inner_text()
    assert "microphone" in text.lower(), text


def test_the_worklet_resamples_48khz_to_24khz_pcm16():
    """The worklet's arithmetic, run in Node with a stand-in for the audio thread: a 440 Hz
    tone at 48 kHz comes out as 100 ms chunks of the same tone at 24 kHz."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    worklet = Path(__file__).parents[2] / "polymodal/server/web/pcm-worklet.js"
    script = f"""
    globalThis.sampleRate = 48000;
    const posted = [];
    globalThis.AudioWorkletProcessor = class {{
      constructor() {{ this.port = {{ postMessage: (m) => posted.push(m) }}; }}
    }};
    globalThis.registerProcessor = (name, cls) => {{ globalThis.Made = cls; }};
    await import({str(worklet)!r});
    const w = new Made({{ processorOptions: {{ targetRate: 24000, chunkMs: 100 }} }});
    for (let block = 0; block < 376; block++) {{  // a second and a block, 128 samples each
      const x = new Float32Array(128);
      for (let i = 0; i < 128; i++) {{
        x[i] = 0.5 * Math.sin(2 * Math.PI * 440 * (block * 128 + i) / 48000);
      }}
      w.process([[x]]);
    }}
    const out = posted.map((b) => Array.from(new Int16Array(b)));
    console.log(JSON.stringify(out));
    """
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    chunks = json.loads(done.stdout)
    assert [len(c) for c in chunks] == [2400] * 10
    samples = np.concatenate([np.array(c, float) for c in chunks]) / 32768
    t = np.arange(samples.size) / 24000
    # the box filter delays by a quarter sample at 48 -> 24 kHz and damps 440 Hz negligibly
    expected = 0.5 * np.sin(2 * np.pi * 440 * (t + 0.5 / 48000))
    assert np.max(np.abs(samples - expected)) < 0.01


def test_a_busy_server_is_a_sentence(server_settings):
    """The server's ``error`` event and its close both reach the page as sentences: with its
    one live session taken by another client, Start is told why."""
    sync_client = pytest.importorskip("websockets.sync.client")
    app = create_app(server_settings)
    app.state.polymodal_realtime = RealtimeLimits(max_sessions=1)
    with serving(app) as url, chromium(FAKE_MIC) as browser:
        socket_url = url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
        with sync_client.connect(socket_url) as other:
            assert json.loads(other.recv(timeout=30))["type"] == "session.created"
            page = open_live(browser, url, key=None)
            panel = page.locator("#panel-live")
            panel.get_by_role("button", name="Start").click()
            page.wait_for_selector("#panel-live[data-state='idle']", timeout=30_000)
            text = panel.locator("[role='alert']:visible").inner_text()
    assert "live transcription sessions are in use" in text, text
