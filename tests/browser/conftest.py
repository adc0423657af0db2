"""One headless Chromium for the whole session (Debian's ``chromium`` driven by Playwright through
``executable_path``; Playwright's own browser download is not used), one page reused by every test. The
tests here skip when playwright or the browser is absent. ``CNNC_CHROMIUM`` names another binary."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

MAX_SHOT = (6000, 12000)
"""The largest screenshot taken, in CSS pixels: a larger page is cut (Chromium's textures end near 16K, and a
page of every example runs to 60,000 pixels)."""
CANDIDATES = ("chromium", "chromium-browser", "/usr/lib/chromium/chromium", "google-chrome")


def chromium_binary() -> str | None:
    """The browser to drive: ``$CNNC_CHROMIUM``, else the first of CANDIDATES found."""
    named = os.environ.get("CNNC_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright")
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium, or set CNNC_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--font-render-hinting=none"])
        yield browser
        browser.close()


class Page:
    """The session's page: ``open(path)`` loads a file and returns the requests it tried to make
    elsewhere (each aborted: nothing leaves the machine) and the script errors it raised."""

    def __init__(self, page) -> None:
        self.page = page
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self._url = ""
        page.route("**/*", self._route)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route) -> None:
        if route.request.url == self._url:
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def open(self, path: Path, width: int = 1280, height: int = 900) -> Page:
        self.foreign.clear()
        self.errors.clear()
        self._url = path.resolve().as_uri()
        self.page.set_viewport_size({"width": width, "height": height})
        self.page.goto(self._url, wait_until="load")
        return self

    def screenshot(self, path: Path) -> Path:
        """The whole page as PNG at ``path``. An SVG document is shot through a viewport grown to the drawing
        (up to MAX_SHOT), since Playwright's full-page capture hangs on one."""
        size = self.page.evaluate("""() => {
            const root = document.documentElement;
            window.scrollTo(0, 0);
            return root instanceof SVGSVGElement ? [root.width.baseVal.value, root.height.baseVal.value] : null; }""")
        if size is None:
            width, height = self.page.evaluate("[document.documentElement.scrollWidth, "
                                               "document.documentElement.scrollHeight]")
            clip = {"x": 0, "y": 0, "width": min(width, MAX_SHOT[0]), "height": min(height, MAX_SHOT[1])}
            self.page.screenshot(path=str(path), full_page=True, clip=clip)
            return path
        viewport = self.page.viewport_size
        self.page.set_viewport_size({"width": max(1, min(int(size[0] + 0.999), MAX_SHOT[0])),
                                     "height": max(1, min(int(size[1] + 0.999), MAX_SHOT[1]))})
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size(viewport)
        return path


@pytest.fixture(scope="session")
def session_page(browser):
    context = browser.new_context(device_scale_factor=1)
    page = Page(context.new_page())
    yield page
    context.close()


@pytest.fixture
def page(session_page) -> Page:
    return session_page
