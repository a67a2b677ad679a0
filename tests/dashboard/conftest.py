"""Browser tests of the dashboard: Debian's Chromium driven by Playwright against real server
processes on 127.0.0.1.

Two servers share one SQLite file and one dashboard secret: the browser uses the first, the
API calls of a test may go to the second. Every page a test opens is watched: any console
error or warning, or uncaught exception, fails the test. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.processes import Server, Servers

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SECRET = "dashboard-test-secret-" + "s" * 32

pytestmark = pytest.mark.slow


@dataclass
class Dashboard:
    """What a browser test works with: the servers, an admin key, the browser and its pages."""

    server: Server
    other: Server
    key: str
    browser: Browser
    context: BrowserContext
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url

    def watch(self, page: Page) -> Page:
        def console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                self.problems.append(f"{message.type}: {message.text} ({page.url})")

        page.on("console", console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        return page

    async def new_page(self, **options: object) -> Page:
        if options:
            context = await self.browser.new_context(**options)  # type: ignore[arg-type]
            return self.watch(await context.new_page())
        return self.watch(await self.context.new_page())

    async def log_in(self, page: Page) -> None:
        await page.goto(f"{self.url}/admin/login")
        await page.fill("#key", self.key)
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{self.url}/admin")

    async def shot(self, page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def api(self, server: Server | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=(server or self.other).base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}")
    servers = Servers(tmp_path, dashboard_secret=SECRET)
    try:
        first = await servers.start()
        key = servers.bootstrap_key(first)
        second = await servers.start()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            found = Dashboard(first, second, key, browser, context)
            try:
                yield found
            finally:
                await browser.close()
            assert found.problems == [], "\n".join(found.problems)
    finally:
        servers.stop_all()
