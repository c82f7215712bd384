"""A real browser (Debian's chromium driven by Playwright) against the whole running system.

Every page a test opens is watched: a console error or an uncaught exception fails the test.
Screenshots go to test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.conftest import system  # noqa: F401 (the fixture, for this package's tests)

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: without these, chromium waits on services it cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
            "(or run: apt-get install -y chromium)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watched:
    """Browser contexts whose pages report console errors and uncaught exceptions."""

    def __init__(self, browser: Browser, test_name: str) -> None:
        self.browser = browser
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)[:80]
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []
        self.shots = 0

    def page(self, base_url: str, viewport: dict[str, int] = DESKTOP, **options) -> Page:
        context = self.browser.new_context(
            base_url=base_url, viewport=viewport, accept_downloads=True, **options
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: m.type == "error" and self.errors.append(self.said(m, page)))
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught {error}"))
        return page

    @staticmethod
    def said(message, page: Page) -> str:
        return f"{page.url}: console error: {message.text} at {message.location}"

    def screenshot(self, page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.shots:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def watched(browser: Browser, request) -> Iterator[Watched]:
    """Pages to open; after the test, no page may have logged an error."""
    session = Watched(browser, request.node.name)
    try:
        yield session
    finally:
        session.close()
    assert session.errors == [], "\n".join(session.errors)
