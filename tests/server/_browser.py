"""Debian's Chromium driven by Playwright for the web page's tests: never a downloaded browser.

``chromium()`` launches ``/usr/bin/chromium`` headless (``--no-sandbox``: tests may run as root
or in a container without user namespaces); it skips the test when Playwright or the browser is
missing, so the rest of the suite runs on a machine without them. Screenshots go to
``artifacts(tmp_path)``: ``POLYMODAL_TEST_ARTIFACTS`` when set (kept by CI), else ``tmp_path``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[object]:
    """A headless Chromium (a Playwright ``Browser``), closed when the block ends."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *extra_args],
        )
        try:
            yield browser
        finally:
            browser.close()


def artifacts(tmp_path: Path) -> Path:
    """Where a test keeps its screenshots."""
    folder = os.environ.get("POLYMODAL_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path
