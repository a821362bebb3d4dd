"""Real piesocket-js 5.1.0 (with ``ws`` as its WebSocket) against tidings over wss.

piesocket-js always builds ``wss://`` URLs, so the server here terminates TLS with a
certificate made for this test, and the Node driver trusts it via NODE_EXTRA_CA_CERTS.
"Not received" outcomes are proven by ordering: a marker sent after the message that must
not arrive arrives first (a connection's messages are delivered in order).

Every test runs with channel history off and on (``HISTORY_OFF_ON``) and reads the channel's
history endpoint at the end, which proves history was on (the events published through the
HTTP APIs are kept; messages piesocket-js publishes are client events, never kept) or off.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest

from tests.conformance.conftest import (
    APP_ID,
    HISTORY_OFF_ON,
    KEY,
    SECRET,
    NodeDriver,
    StartDriver,
    history_settings,
    kept_events,
)
from tests.fixtures.tls import client_context, self_signed
from tidings.config import Settings
from tidings.protocol.piesocket.auth import AUTH_FAILED, make_token
from tidings.protocol.signing import body_md5, sign_request
from tidings.server.runner import RunningServer, start_server

pytestmark = [pytest.mark.node, HISTORY_OFF_ON]

SCRIPT = "piesocket_driver.mjs"


@pytest.fixture
def cert_and_key(tmp_path: Path) -> tuple[Path, Path]:
    """This test's self-signed certificate and key."""
    return self_signed(tmp_path)


@pytest.fixture
async def server(
    cert_and_key: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, history: bool
) -> AsyncIterator[RunningServer]:
    """A TLS server on a free port whose certificate the Node drivers trust (keeping
    history of every channel with ``history``)."""
    cert, key = cert_and_key
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(cert))
    settings = Settings.load(
        http_port=0,
        shutdown_grace_period=1.0,
        tls_cert=cert,
        tls_key=key,
        **history_settings(history),
    )
    running = await start_server(settings)
    try:
        yield running
    finally:
        if not running.state.draining:
            await running.shutdown()


async def subscribed(driver: NodeDriver, client: str, channel: str, **options: object) -> str:
    """Subscribe ``client`` to ``channel``; its uuid."""
    await driver.send("subscribe", client, channel=channel, options=options)
    return str((await driver.expect("subscribed", client, channel=channel))["uuid"])


@dataclass
class Https:
    """The test's TLS server over HTTPS (its certificate trusted), and whether it keeps
    history of every channel."""

    server: RunningServer
    cert: Path
    history: bool

    async def post(self, path: str, body: bytes) -> None:
        """POST ``body`` to ``path``; asserts a 200."""
        connector = aiohttp.TCPConnector(ssl=client_context(self.cert))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(f"{self.server.http_url}{path}", data=body) as response,
        ):
            assert response.status == 200, await response.text()

    async def rest_publish(self, channel: str, event: str, data: object) -> None:
        """PieSocket's REST publish."""
        message = {"event": event, "data": data}
        body = {"key": KEY, "secret": SECRET, "channelId": channel, "message": message}
        await self.post("/api/publish", orjson.dumps(body))

    async def assert_kept(self, channel: str, events: list[str]) -> None:
        """With history, ``channel`` kept exactly ``events``; without, nothing (a 404)."""
        tls = client_context(self.cert)
        kept = await kept_events(self.server.http_url, channel, tls=tls)
        assert kept == (events if self.history else None)


@pytest.fixture
def https(server: RunningServer, cert_and_key: tuple[Path, Path], history: bool) -> Https:
    """The test's server, reached over HTTPS."""
    return Https(server, cert_and_key[0], history)


async def test_subscribe_and_receive_rest_publish(start_driver: StartDriver, https: Https) -> None:
    driver = await start_driver(SCRIPT)
    await subscribed(driver, "a", "news")
    await https.rest_publish("news", "headline", {"title": "hi"})
    event = await driver.expect("event", "a", event="headline")
    assert event["data"] == {"title": "hi"} and event["meta"] is None
    await https.assert_kept("news", ["headline"])


async def test_publish_without_and_with_notify_self(
    start_driver: StartDriver, https: Https
) -> None:
    driver = await start_driver(SCRIPT)
    await subscribed(driver, "quiet", "room")
    await subscribed(driver, "loud", "room", notifySelf=1)
    await driver.send("publish", "quiet", event="say", data={"t": 1}, meta={"from": "q"})
    heard = await driver.expect("event", "loud", event="say")
    assert heard["data"] == {"t": 1} and heard["meta"] == {"from": "q"}
    await driver.send("publish", "loud", event="shout", data="x")
    await driver.expect("event", "loud", event="shout")  # notify_self: its own message
    await driver.expect("event", "quiet", event="shout")
    assert driver.observed("event", "quiet", event="say") == []  # shout came after say
    await https.assert_kept("room", [])


async def test_presence_member_list_joined_left(start_driver: StartDriver, https: Https) -> None:
    driver = await start_driver(SCRIPT)
    ann_uuid = await subscribed(driver, "ann", "lobby", presence=1, userId="ann")
    listed = await driver.expect("event", "ann", event="system:member_list")
    assert listed["members"] == [{"uuid": ann_uuid, "user": "ann"}]
    assert listed["me"] == {"uuid": ann_uuid, "user": "ann"}  # getCurrentMember() works
    bob_uuid = await subscribed(driver, "bob", "lobby", presence=1, userId="bob")
    joined = await driver.expect("event", "ann", event="system:member_joined")
    assert joined["data"]["member"] == {"uuid": bob_uuid, "user": "bob"}
    assert sorted(m["user"] for m in joined["members"]) == ["ann", "bob"]
    await driver.send("unsubscribe", "bob")
    left = await driver.expect("event", "ann", event="system:member_left")
    assert left["data"]["member"] == {"uuid": bob_uuid, "user": "bob"}
    assert left["members"] == [{"uuid": ann_uuid, "user": "ann"}]
    await https.rest_publish("lobby", "news", "later")
    assert (await driver.expect("event", "ann", event="news"))["data"] == "later"
    await https.assert_kept("lobby", ["news"])


async def test_jwt_private_channel_accepted_and_forged_rejected(
    start_driver: StartDriver, https: Https
) -> None:
    driver = await start_driver(SCRIPT)
    good = make_token(secret=SECRET, channel="private-ops", now=time.time(), user="ops")
    await subscribed(driver, "ok", "private-ops", jwt=good, presence=1)
    listed = await driver.expect("event", "ok", event="system:member_list")
    assert [m["user"] for m in listed["members"]] == ["ops"]
    forged = make_token(secret="not-the-secret", channel="private-ops", now=time.time())
    await subscribed(driver, "bad", "private-ops", jwt=forged)
    assert (await driver.expect("error", "bad"))["error"] == AUTH_FAILED
    closed = await driver.expect("closed", "bad")
    assert closed["code"] == 4009 and closed["reconnect"] is False  # piesocket-js gives up
    await https.rest_publish("private-ops", "deploy", "v2")
    assert (await driver.expect("event", "ok", event="deploy"))["data"] == "v2"
    await https.assert_kept("private-ops", ["deploy"])


async def test_pusher_http_api_publish_reaches_piesocket_js(
    start_driver: StartDriver, https: Https
) -> None:
    driver = await start_driver(SCRIPT)
    await subscribed(driver, "a", "orders")
    body = orjson.dumps({"name": "created", "channels": ["orders"], "data": '{"id": 7}'})
    path = f"/apps/{APP_ID}/events"
    params = {"auth_key": KEY, "auth_timestamp": str(int(time.time())), "auth_version": "1.0"}
    params["body_md5"] = body_md5(body)
    params["auth_signature"] = sign_request(SECRET, "POST", path, params)
    await https.post(f"{path}?{urlencode(params)}", body)
    event = await driver.expect("event", "a", event="created")
    assert event["data"] == {"id": 7}
    await https.assert_kept("orders", ["created"])
