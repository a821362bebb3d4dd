"""The dashboard in headless Chromium: Debian's ``chromium`` driven by Playwright.

Chromium comes from ``make browser`` (``apt-get install chromium``); Playwright's own
browser download is never used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tidings.server.runner import RunningServer

__all__ = ["CHROMIUM", "browser", "open_page"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium (fails, never skips, when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        await launched.close()


async def open_page(browser: Browser, running: RunningServer, view: str, **context: Any) -> Page:
    """The dashboard of ``running`` at ``#view``, once it shows the node; fails on any
    JavaScript error while loading."""
    ctx = await browser.new_context(viewport={"width": 1200, "height": 820}, **context)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{running.admin_url}/#{view}")
    await expect(page.locator("#node-info")).to_contain_text(running.state.node.node_id)
    assert errors == []
    return page
