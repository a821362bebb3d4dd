"""Every action of the dashboard, clicked in headless Chromium, and its effect checked where
it counts: on real WebSocket clients and the signed HTTP API of the same server.

Create an app, rotate its secret, disable and enable it, clear the debug console, and pick
another app (the console and the channels then show that app only).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from playwright.async_api import Browser, Page, expect

from tests.integration.conftest import APP_ID, KEY, SECRET, TIMEOUT, ServerFactory, signed_url
from tests.support.browser import browser as browser
from tests.support.browser import open_page
from tests.support.waiting import eventually
from tidings.server.runner import RunningServer

WAIT_MS = 5000  # "within a few seconds"
_CREATED = re.compile(r"Created app (\S+): key (\S+), secret (\S+) \(shown once\)")
_ROTATED = re.compile(r"New secret of app (\S+) \(shown once\): (\S+)")


@pytest.fixture
async def store(server_factory: ServerFactory, tmp_path: Path) -> RunningServer:
    """A server with its own SQLite app database and the dashboard on a free port."""
    return await server_factory(admin_port=0, database_url=f"sqlite:///{tmp_path}/apps.sqlite3")


async def publish_status(
    server: RunningServer, app_id: str, key: str, secret: str, channel: str = "c"
) -> int:
    """The status of a signed publish for the app ``app_id`` with ``key``/``secret``."""
    body = orjson.dumps({"name": "e", "channels": [channel], "data": "{}"})
    url = signed_url(
        server.http_url, "POST", f"/apps/{app_id}/events", body, key=key, secret=secret
    )
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as response:
        return response.status


async def first_frame(server: RunningServer, key: str) -> dict[str, Any]:
    """The first frame a new connection with ``key`` gets."""
    async with websockets.connect(f"{server.ws_url}/app/{key}?protocol=7") as ws:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return frame


async def create_in_browser(page: Page, name: str) -> tuple[str, str, str]:
    """Create an app with the form; its id, key and secret as the page shows them once."""
    await page.get_by_label("Name").fill(name)
    await page.get_by_role("button", name="Create app").click()
    shown = page.locator("#app-secret")
    await expect(shown).to_have_text(_CREATED, timeout=WAIT_MS)
    match = _CREATED.fullmatch(await shown.inner_text())
    assert match is not None
    app_id, key, secret = match.groups()
    return app_id, key, secret


async def test_create_an_app(browser: Browser, store: RunningServer) -> None:
    """The form creates an app that is listed and works at once: clients connect with its
    key, the HTTP API accepts its secret."""
    page = await open_page(browser, store, "apps")
    app_id, key, secret = await create_in_browser(page, "made-in-the-browser")
    row = page.locator("#apps-table tbody tr").filter(has_text="made-in-the-browser")
    await expect(row.locator("td").nth(0)).to_have_text(app_id)
    await expect(row.locator("td").nth(2)).to_have_text(key)
    await expect(row.locator("td").nth(3)).to_have_text("enabled")
    await expect(row.locator("td").nth(4)).to_have_text("database")
    assert (await first_frame(store, key))["event"] == "pusher:connection_established"
    assert await publish_status(store, app_id, key, secret) == 200
    assert await publish_status(store, app_id, key, secret + "x") == 401


async def test_rotate_a_secret(browser: Browser, store: RunningServer) -> None:
    """Rotate secret shows the new secret once; the API accepts it and refuses the old one."""
    page = await open_page(browser, store, "apps")
    app_id, key, old = await create_in_browser(page, "rotating")
    await page.get_by_role("button", name=f"Rotate the secret of app {app_id}").click()
    shown = page.locator("#app-secret")
    await expect(shown).to_have_text(_ROTATED, timeout=WAIT_MS)
    match = _ROTATED.fullmatch(await shown.inner_text())
    assert match is not None and match.group(1) == app_id
    new = match.group(2)
    assert new != old
    assert await publish_status(store, app_id, key, new) == 200
    assert await publish_status(store, app_id, key, old) == 401


async def test_disable_then_enable_an_app(browser: Browser, store: RunningServer) -> None:
    """Disable: its open connection gets pusher:error 4003, new ones are refused and the row
    says disabled. Enable: connections are accepted again."""
    page = await open_page(browser, store, "apps")
    app_id, key, _ = await create_in_browser(page, "switched")
    row = page.locator("#apps-table tbody tr").filter(has_text="switched")
    async with websockets.connect(f"{store.ws_url}/app/{key}?protocol=7") as ws:
        first = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert first["event"] == "pusher:connection_established"
        await page.get_by_role("button", name=f"Disable app {app_id}").click()
        await expect(page.locator("#app-secret")).to_have_text(f"App {app_id} is disabled")
        await expect(row.locator("td").nth(3)).to_have_text("disabled")
        error = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert (error["event"], error["data"]["code"]) == ("pusher:error", 4003)
    refused = await first_frame(store, key)
    assert (refused["event"], refused["data"]["code"]) == ("pusher:error", 4003)

    await page.get_by_role("button", name=f"Enable app {app_id}").click()
    await expect(page.locator("#app-secret")).to_have_text(f"App {app_id} is enabled")
    await expect(row.locator("td").nth(3)).to_have_text("enabled")
    assert (await first_frame(store, key))["event"] == "pusher:connection_established"


async def test_console_clear(browser: Browser, store: RunningServer) -> None:
    """Clear empties the console; what happens afterwards still shows, and only that."""
    page = await open_page(browser, store, "console")
    await expect(page.locator("#console-state")).to_contain_text("connected")
    rows = page.locator("#console-table tbody tr")
    assert await publish_status(store, APP_ID, KEY, SECRET, "before-clear") == 200
    await expect(rows.filter(has_text="before-clear")).to_have_count(1, timeout=WAIT_MS)
    await page.get_by_role("button", name="Clear").click()
    await expect(rows).to_have_count(0)
    assert await publish_status(store, APP_ID, KEY, SECRET, "after-clear") == 200
    await expect(rows.filter(has_text="after-clear")).to_have_count(1, timeout=WAIT_MS)
    await expect(rows).to_have_count(1)


async def test_app_picker_switches_the_console_and_channels(
    browser: Browser, server_factory: ServerFactory
) -> None:
    """With two apps the picker lists both; picking the second shows its events and
    channels only (an event of the first app, published before, never shows)."""
    other = {"id": "2", "key": "other-key", "secret": "other-secret"}
    running = await server_factory(
        admin_port=0, apps=[{"id": APP_ID, "key": KEY, "secret": SECRET}, other]
    )
    page = await open_page(browser, running, "console")
    picker = page.locator("#app-select")
    await expect(picker.locator("option")).to_have_text([APP_ID, "2"])
    await expect(picker).to_have_value(APP_ID)
    await picker.select_option("2")
    rows = page.locator("#console-table tbody tr")

    # The console's stream of app 2 opens after the switch (its state still reads
    # "connected" from app 1's until then): publish to app 2 until one shows.
    async def streaming_app_2() -> bool:
        assert await publish_status(running, "2", "other-key", "other-secret", "warm-up") == 200
        return await rows.filter(has_text="warm-up").count() > 0

    await eventually(streaming_app_2, TIMEOUT, "the console streams app 2")
    assert await publish_status(running, APP_ID, KEY, SECRET, "of-app-1") == 200
    # Barrier: published after the first app's event, on the app being shown.
    assert await publish_status(running, "2", "other-key", "other-secret", "of-app-2") == 200
    await expect(rows.filter(has_text="of-app-2")).to_have_count(1, timeout=WAIT_MS)
    await expect(rows.filter(has_text="of-app-1")).to_have_count(0)

    async with websockets.connect(f"{running.ws_url}/app/other-key?protocol=7") as ws:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
        subscribe = {"event": "pusher:subscribe", "data": {"channel": "lobby-of-2"}}
        await ws.send(orjson.dumps(subscribe).decode())
        await asyncio.wait_for(ws.recv(), TIMEOUT)  # subscription_succeeded
        await page.get_by_role("link", name="Channels").click()
        channels = page.locator("#channels-table tbody tr")
        await expect(channels.filter(has_text="lobby-of-2")).to_have_count(1, timeout=WAIT_MS)
        await expect(page.locator("#channels-status")).to_have_text(
            "1 occupied channel(s) in app 2"
        )


async def test_every_dashboard_action_is_covered() -> None:
    """Each button and form of the dashboard has a test in this file (a new action without
    one fails here)."""
    html = (Path(__file__).resolve().parents[2] / "src/tidings/admin/static/index.html").read_text()
    script = Path(__file__).resolve().parents[2] / "src/tidings/admin/static/dashboard.js"
    actions = set(re.findall(r"<button[^>]*>([^<]+)</button>", html))
    actions |= set(re.findall(r'button\("([^"]+)"', script.read_text()))
    # Publish, Pause, Show members, Redeliver: tests/integration/test_dashboard.py.
    covered = {"Create app", "Rotate secret", "Clear", "Publish", "Pause", "Redeliver"}
    covered |= {"Show members"}
    assert actions <= covered, f"dashboard actions without a browser test: {actions - covered}"
