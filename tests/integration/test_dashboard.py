"""The dashboard in headless Chromium (Debian's ``chromium`` driven by Playwright): each
view against a real server, real WebSocket clients and the signed HTTP API.

Chromium comes from ``make browser`` (``apt-get install chromium``); Playwright's own
browser download is never used. With ``TIDINGS_UPDATE_SCREENSHOTS=1`` the tests write the
screenshots of docs/dashboard.md into docs/images/.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from tests.integration.conftest import (
    APP_ID,
    TIMEOUT,
    ServerFactory,
    close_and_wait,
    publish,
)
from tests.integration.conftest import client as client_of
from tests.support.browser import browser as browser
from tests.support.browser import open_page
from tests.support.waiting import eventually
from tidings.domain import events
from tidings.server.runner import RunningServer

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WAIT_MS = 5000  # "within a few seconds"


@pytest.fixture
async def dashboard(server_factory: ServerFactory) -> RunningServer:
    running = await server_factory(admin_port=0)
    assert running.admin_url is not None
    return running


async def screenshot(page: Page, name: str) -> None:
    if os.environ.get("TIDINGS_UPDATE_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(IMAGES / f"dashboard-{name}.png"), full_page=True)


async def test_overview_shows_live_connections(browser: Browser, dashboard: RunningServer) -> None:
    """The overview lists the app with its live connection and channel counts and a chart."""
    page = await open_page(browser, dashboard, "overview")
    row = page.locator("#overview-table tbody tr").filter(has_text=re.compile(f"^{APP_ID}"))
    await expect(row.locator("td").nth(1)).to_have_text("0")
    client = await client_of(dashboard)
    await client.subscribe("news")
    await expect(row.locator("td").nth(1)).to_have_text("1", timeout=WAIT_MS)
    await expect(row.locator("td").nth(2)).to_have_text("1", timeout=WAIT_MS)
    for i in range(10):
        await publish(dashboard, ["news"], "tick", str(i))
    rate = row.locator("td").nth(3)  # messages/s over the last poll interval
    await expect(rate).not_to_have_text("0.0", timeout=WAIT_MS)
    await expect(page.get_by_role("img", name=re.compile("Chart of connections"))).to_be_visible()
    await screenshot(page, "overview")


async def test_channels_with_presence_members(browser: Browser, dashboard: RunningServer) -> None:
    """Occupied channels with counts; a presence channel's members on request."""
    client = await client_of(dashboard)
    member = orjson.dumps({"user_id": "ann", "user_info": {"name": "Ann"}}).decode()
    await client.subscribe("presence-room", channel_data=member)
    await client.subscribe("news")
    page = await open_page(browser, dashboard, "channels")
    row = page.locator("#channels-table tbody tr").filter(has_text="presence-room")
    await expect(row.locator("td").nth(1)).to_have_text("1")
    await expect(row.locator("td").nth(2)).to_have_text("1")
    await page.get_by_role("button", name="Show the members of presence-room").click()
    await expect(page.locator("#members li")).to_have_text('ann: {"name":"Ann"}')
    await expect(page.locator("#channels-table tbody tr").filter(has_text="news")).to_have_count(1)
    await screenshot(page, "channels")


async def test_channel_view_shows_a_history_channels_position(
    browser: Browser, server_factory: ServerFactory
) -> None:
    """A history channel's row shows its serial, how many events are kept, its stream."""
    running = await server_factory(admin_port=0, default_app_history_channels=["chat-"])
    client = await client_of(running)
    await client.subscribe("chat-1")
    for n in range(3):
        await publish(running, ["chat-1"], "msg", f'"{n}"')
    stream = None
    for _ in range(3):
        stream = (await client.expect("msg"))["stream_id"]
    page = await open_page(browser, running, "channels")
    row = page.locator("#channels-table tbody tr").filter(has_text="chat-1")
    await expect(row.locator("td").nth(4)).to_have_text(f"serial 3 · 3 kept · stream {stream}")


async def test_console_streams_an_api_publish_and_pauses(
    browser: Browser, dashboard: RunningServer
) -> None:
    """The console shows an API publish within a few seconds; pause holds rows back;
    the filter hides what does not match; nothing is collected before or after it is open."""
    bus = dashboard.bus
    assert not bus.wants(events.Unsubscribed)  # no console yet: nobody listens
    page = await open_page(browser, dashboard, "console")
    await expect(page.locator("#console-state")).to_contain_text("connected")
    assert bus.wants(events.Unsubscribed)
    client = await client_of(dashboard)
    await client.subscribe("orders")
    await publish(dashboard, ["orders"], "order-paid", '{"id": 7}')
    rows = page.locator("#console-table tbody tr")
    published = rows.filter(has_text="order-paid")
    await expect(published).to_have_count(1, timeout=WAIT_MS)
    await expect(published.locator("td").nth(1)).to_have_text("published")
    await expect(published.locator("td").nth(2)).to_have_text("orders")
    await expect(rows.filter(has_text="connection_opened")).to_have_count(1)
    await expect(rows.filter(has_text="subscribed")).to_have_count(1)
    await screenshot(page, "console")

    await page.get_by_role("button", name="Pause").click()
    await publish(dashboard, ["orders"], "while-paused", "1")
    await expect(page.locator("#console-state")).to_contain_text("1 held", timeout=WAIT_MS)
    await expect(rows.filter(has_text="while-paused")).to_have_count(0)
    await page.get_by_role("button", name="Resume").click()
    await expect(rows.filter(has_text="while-paused")).to_have_count(1)

    await page.get_by_label("Filter", exact=True).fill("while-paused")
    await expect(rows.filter(has_text="order-paid")).to_be_hidden()
    await page.get_by_label("Show", exact=True).select_option("error")
    await expect(rows.filter(has_text="while-paused")).to_be_hidden()

    await page.goto(f"{dashboard.admin_url}/#overview")  # the console closes
    await eventually(lambda: not bus.wants(events.Unsubscribed), TIMEOUT, "console listeners gone")


async def test_console_shows_what_was_sent_and_who_joined(
    browser: Browser, dashboard: RunningServer
) -> None:
    """An API publish shows its data and size, a large one cut at 1 KiB with its full size;
    a client event shows its data; a presence join shows the member's info."""
    page = await open_page(browser, dashboard, "console")
    await expect(page.locator("#console-state")).to_contain_text("connected")
    rows = page.locator("#console-table tbody tr")
    await publish(dashboard, ["orders"], "order-paid", '{"id": 7, "total": "12.50"}')
    paid = rows.filter(has_text="order-paid").locator("td").nth(3)
    await expect(paid).to_have_text(
        'event=order-paid  size=27 B  data={"id": 7, "total": "12.50"}', timeout=WAIT_MS
    )
    big = "é" + "x" * 5000  # 5 002 bytes of UTF-8
    await publish(dashboard, ["orders"], "bulk", big)
    bulk = rows.filter(has_text="event=bulk").locator("td").nth(3)
    await expect(bulk).to_contain_text("size=4.9 KiB", timeout=WAIT_MS)
    await expect(bulk).to_contain_text("… (first 1 KiB of 4.9 KiB)")
    shown = (await bulk.text_content() or "").split("data=")[1].split("…")[0]
    assert shown == "é" + "x" * 1022  # 1 024 bytes, cut on a character boundary

    ann, bob = await client_of(dashboard), await client_of(dashboard)
    member = orjson.dumps({"user_id": "ann", "user_info": {"name": "Ann"}}).decode()
    await ann.subscribe("presence-room", channel_data=member)
    joined = rows.filter(has_text="member_added")
    await expect(joined.locator("td").nth(2)).to_have_text("presence-room", timeout=WAIT_MS)
    await expect(joined.locator("td").nth(3)).to_have_text('user_id=ann  info={"name":"Ann"}')
    await bob.subscribe("private-chat")
    await ann.subscribe("private-chat")
    await ann.send("client-typing", {"text": "hi"}, channel="private-chat")
    await bob.expect("client-typing")
    typed = rows.filter(has_text="client-typing").locator("td").nth(3)
    await expect(typed).to_contain_text('data={"text":"hi"}', timeout=WAIT_MS)
    await expect(typed).to_contain_text("size=13 B")


async def test_shutdown_ends_a_console_while_members_leave(server_factory: ServerFactory) -> None:
    """An open console's stream ends when the server stops, even while the presence members
    leaving at that moment keep it gathering a batch (that batch swallowed the shutdown's
    wake-up, and the admin listener waited 60 s for the stream)."""
    running = await server_factory(admin_port=0, shutdown_grace_period=1.0)
    async with aiohttp.ClientSession() as http:
        stream = await http.get(f"{running.admin_url}/api/apps/{APP_ID}/console")
        await stream.content.readuntil(b"event: batch")  # the opening batch: listening
        client = await client_of(running)
        member = orjson.dumps({"user_id": "ann", "user_info": {}}).decode()
        await client.subscribe("presence-room", channel_data=member)
        await asyncio.wait_for(running.shutdown(), TIMEOUT)
        stream.close()


async def test_console_shows_errors_and_closes(browser: Browser, dashboard: RunningServer) -> None:
    """A refused subscription and a closed connection appear with what the client was told."""
    page = await open_page(browser, dashboard, "console")
    await expect(page.locator("#console-state")).to_contain_text("connected")
    client = await client_of(dashboard)
    await client.send("pusher:subscribe", {"channel": "private-x", "auth": "app-key:bad"})
    await client.expect("pusher:subscription_error")
    await close_and_wait(dashboard, client)
    rows = page.locator("#console-table tbody tr")
    refused = rows.filter(has_text="subscription_refused")
    await expect(refused).to_have_count(1, timeout=WAIT_MS)
    await expect(refused).to_have_class("error")
    await expect(refused.locator("td").nth(3)).to_contain_text("reason=")
    await expect(rows.filter(has_text="connection_closed")).to_have_count(1, timeout=WAIT_MS)


async def test_event_creator_reaches_a_real_client(
    browser: Browser, dashboard: RunningServer
) -> None:
    """Channel, Event and Data typed into the labelled fields and Publish: a subscribed
    WebSocket client receives exactly that event; a bad channel name says why."""
    client = await client_of(dashboard)
    await client.subscribe("my-channel")
    page = await open_page(browser, dashboard, "publish")
    await page.get_by_label("Channel", exact=True).fill("my-channel")
    await page.get_by_label("Event", exact=True).fill("from-the-dashboard")
    await page.get_by_label("Data", exact=True).fill('{"greeting": "hi"}')
    await page.get_by_role("button", name="Publish").click()
    message = await client.expect("from-the-dashboard")
    assert message["channel"] == "my-channel"
    assert message["data"] == {"greeting": "hi"}  # the text typed, parsed as pusher-js does
    await expect(page.get_by_role("status")).to_contain_text("Published from-the-dashboard")
    await screenshot(page, "event-creator")
    await page.get_by_label("Channel", exact=True).fill("bad channel!")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.locator("#publish-status")).to_contain_text("Not published: channel")


async def test_apps_view(browser: Browser, dashboard: RunningServer) -> None:
    """The apps view lists the configured app, read-only (the app store cannot change it)."""
    async with aiohttp.ClientSession() as http, http.get(f"{dashboard.admin_url}/api/apps") as r:
        assert r.status == 200  # the session's scratch SQLite app store answers
    page = await open_page(browser, dashboard, "apps")
    rows = page.locator("#apps-table tbody tr")
    await expect(rows.filter(has_text=APP_ID).first).to_be_visible()
    await expect(rows.first.get_by_role("button", name=re.compile("Rotate"))).to_be_disabled()
    await expect(page.locator("#app-create")).to_be_visible()
    await screenshot(page, "apps")


async def test_apps_view_without_an_app_store(
    browser: Browser, server_factory: ServerFactory
) -> None:
    """Without an app database the configured apps are listed read-only and creating an app
    says why it cannot be done (nothing is created)."""
    running = await server_factory(admin_port=0, database_url="")
    page = await open_page(browser, running, "apps")
    row = page.locator("#apps-table tbody tr").filter(has_text=APP_ID)
    await expect(row.get_by_role("button", name=re.compile("Rotate"))).to_be_disabled()
    await page.get_by_label("Name").fill("nowhere")
    await page.get_by_role("button", name="Create app").click()
    await expect(page.locator("#app-secret")).to_contain_text(
        "Could not create the app: this node has no app database"
    )
    await expect(page.locator("#apps-table tbody tr")).to_have_count(1)


async def test_webhooks_view_without_webhooks(browser: Browser, dashboard: RunningServer) -> None:
    """An app without webhooks says so instead of showing an empty log."""
    page = await open_page(browser, dashboard, "webhooks")
    await expect(page.locator("#webhooks-status")).to_have_text("No webhooks configured for app 1.")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A webhook receiver on 127.0.0.1 that records each body and answers 200."""
    bodies: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    # Stops last (requested first): the server's webhook sender is gone by then.
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", bodies
    await runner.cleanup()


async def test_webhook_log_console_and_redeliver(
    receiver: tuple[str, list[bytes]], browser: Browser, server_factory: ServerFactory
) -> None:
    """A delivery shows in the console and the log; Redeliver sends its events again."""
    url, bodies = receiver
    hooks = orjson.dumps([{"url": url, "event_types": ["channel_occupied"]}]).decode()
    running = await server_factory(admin_port=0, default_app_webhooks=hooks)
    console = await open_page(browser, running, "console")
    await expect(console.locator("#console-state")).to_contain_text("connected")
    client = await client_of(running)
    await client.subscribe("hooked")
    delivered = console.locator("#console-table tbody tr").filter(has_text="webhook_delivery")
    await expect(delivered.filter(has_text="status=sent")).to_have_count(1, timeout=WAIT_MS)
    page = await open_page(browser, running, "webhooks")
    row = page.locator("#webhooks-table tbody tr").filter(has_text=url)
    await expect(row).to_have_count(1)
    await expect(row.locator("td").nth(2)).to_have_text("channel_occupied")
    await expect(row.locator("td").nth(4)).to_have_text("sent (200)")
    await screenshot(page, "webhooks")
    assert len(bodies) == 1
    await row.get_by_role("button", name=re.compile("Redeliver")).click()
    await expect(page.locator("#webhooks-status")).to_contain_text("queued again")
    await expect(page.locator("#webhooks-table tbody tr")).to_have_count(2, timeout=WAIT_MS)
    await eventually(lambda: len(bodies) >= 2, TIMEOUT, "the redelivery came")
    assert orjson.loads(bodies[1])["events"] == orjson.loads(bodies[0])["events"]
    for opened in (console, page):  # the pages go first, then the server, then the receiver
        await opened.context.close()


async def test_admin_password_guards_the_page_and_the_console(
    browser: Browser, server_factory: ServerFactory
) -> None:
    """With admin_password the page and its stream need it, as every admin request does."""
    running = await server_factory(admin_port=0, admin_password="s3cret")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.admin_url}/") as response:
            assert response.status == 401
        async with http.get(f"{running.admin_url}/api/apps/{APP_ID}/console") as response:
            assert response.status == 401
    credentials = {"username": "admin", "password": "s3cret"}
    page = await open_page(browser, running, "console", http_credentials=credentials)
    await expect(page.locator("#console-state")).to_contain_text("connected")
    await publish(running, ["news"], "guarded", "1")
    await expect(page.locator("#console-table tbody tr").filter(has_text="guarded")).to_have_count(
        1, timeout=WAIT_MS
    )
