"""Real pusher-js 8.6 (Node build) against a tidings server: what a browser app relies on.

Negative outcomes ("the sender does not get its own client event", "the excluded socket
does not get the event") are proven by ordering, not by waiting: after the event that must
not arrive, a marker event is published to the same channel, and the marker arriving first
shows the other one was never sent (the server delivers a connection's events in order).
"""

from __future__ import annotations

import re

import pytest

from tests.conformance.conftest import NodeDriver, StartDriver, publish
from tidings.server.runner import RunningServer

pytestmark = pytest.mark.node

SCRIPT = "pusher_driver.mjs"


async def connected(driver: NodeDriver, client: str, **fields: object) -> str:
    """Connect ``client`` and return its socket id."""
    await driver.send("connect", client, **fields)
    return str((await driver.expect("connected", client))["socket_id"])


async def subscribed(driver: NodeDriver, client: str, channel: str) -> dict[str, object]:
    """Subscribe ``client`` to ``channel`` and return the ``subscribed`` observation."""
    await driver.send("subscribe", client, channel=channel)
    return await driver.expect("subscribed", client, channel=channel)


async def subscriber(start_driver: StartDriver, channel: str) -> NodeDriver:
    """A driver whose client "a" is connected and subscribed to ``channel``."""
    driver = await start_driver(SCRIPT)
    await connected(driver, "a")
    await subscribed(driver, "a", channel)
    return driver


async def test_connect_gives_a_pusher_socket_id(start_driver: StartDriver) -> None:
    driver = await start_driver(SCRIPT)
    socket_id = await connected(driver, "a")
    assert re.fullmatch(r"\d+\.\d+", socket_id), socket_id
    other = await connected(driver, "b")
    assert other != socket_id


async def test_public_channel_receives_http_published_event(
    start_driver: StartDriver, server: RunningServer
) -> None:
    driver = await subscriber(start_driver, "orders")
    answer = await publish(server, ["orders"], "order-created", {"id": 7, "total": "9.50"})
    assert answer == {}
    event = await driver.expect("event", "a", channel="orders", event="order-created")
    assert event["data"] == {"id": 7, "total": "9.50"}


async def test_non_json_data_reaches_pusher_js_as_the_string(
    start_driver: StartDriver, server: RunningServer
) -> None:
    driver = await subscriber(start_driver, "news")
    await publish(server, ["news"], "headline", "plain text, not JSON")
    event = await driver.expect("event", "a", channel="news", event="headline")
    assert event["data"] == "plain text, not JSON"


async def test_private_channel_with_valid_auth_is_subscribed(
    start_driver: StartDriver, server: RunningServer
) -> None:
    driver = await subscriber(start_driver, "private-invoices")
    await publish(server, ["private-invoices"], "paid", {"invoice": 3})
    event = await driver.expect("event", "a", channel="private-invoices", event="paid")
    assert event["data"] == {"invoice": 3}


async def test_forged_auth_gets_subscription_error(start_driver: StartDriver) -> None:
    driver = await start_driver(SCRIPT)
    await connected(driver, "a")
    await driver.send("subscribe", "a", channel="private-vault", forge=True)
    refused = await driver.expect("subscription_error", "a", channel="private-vault")
    data = refused["data"]
    assert data["status"] == 401, data
    assert data["type"] == "AuthError", data
    assert "private-vault" in data["error"], data
    # The connection survives a refused subscription: a valid one still works.
    await subscribed(driver, "a", "private-open")
    assert not driver.observed("subscribed", "a", channel="private-vault")


async def test_presence_members_added_and_removed(start_driver: StartDriver) -> None:
    driver = await start_driver(SCRIPT)
    alice = {"user_id": "1", "user_info": {"name": "Alice"}}
    bob = {"user_id": "2", "user_info": {"name": "Bob"}}
    await connected(driver, "alice", user=alice)
    first = await subscribed(driver, "alice", "presence-room")
    assert first["members"] == {
        "count": 1,
        "me": {"id": "1", "info": {"name": "Alice"}},
        "list": [{"id": "1", "info": {"name": "Alice"}}],
    }

    await connected(driver, "bob", user=bob)
    second = await subscribed(driver, "bob", "presence-room")
    members = second["members"]
    assert isinstance(members, dict)
    assert members["count"] == 2
    assert members["me"] == {"id": "2", "info": {"name": "Bob"}}
    assert sorted(members["list"], key=lambda m: str(m["id"])) == [
        {"id": "1", "info": {"name": "Alice"}},
        {"id": "2", "info": {"name": "Bob"}},
    ]
    added = await driver.expect("event", "alice", event="pusher:member_added")
    assert added["data"] == {"id": "2", "info": {"name": "Bob"}}

    await driver.send("disconnect", "bob")
    removed = await driver.expect("event", "alice", event="pusher:member_removed")
    assert removed["data"] == {"id": "2", "info": {"name": "Bob"}}
    # Bob never saw himself being added.
    assert not driver.observed("event", "bob", event="pusher:member_added")


async def test_client_event_reaches_others_not_the_sender(
    start_driver: StartDriver, server: RunningServer
) -> None:
    driver = await start_driver(SCRIPT)
    for client in ("a", "b"):
        await connected(driver, client)
        await subscribed(driver, client, "private-chat")
    await driver.send("trigger", "a", channel="private-chat", event="client-typing", data={"on": 1})
    assert (await driver.expect("triggered", "a"))["ok"] is True
    got = await driver.expect("event", "b", channel="private-chat", event="client-typing")
    assert got["data"] == {"on": 1}

    await publish(server, ["private-chat"], "marker", {})
    await driver.expect("event", "a", channel="private-chat", event="marker")
    assert not driver.observed("event", "a", event="client-typing")


async def test_client_ping_is_answered_with_pong(start_driver: StartDriver) -> None:
    driver = await start_driver(SCRIPT)
    await connected(driver, "a")
    await driver.send("send_event", "a", event="pusher:ping", data={})
    pong = await driver.expect("message", "a", event="pusher:pong")
    assert pong["data"] in ({}, None, ""), pong


@pytest.mark.parametrize("server", [{"activity_timeout": 1}], indirect=True)
async def test_short_activity_timeout_keeps_pusher_js_connected(
    start_driver: StartDriver, server: RunningServer
) -> None:
    """pusher-js adopts the server's 1 s activity_timeout, pings when idle, gets its pong."""
    driver = await subscriber(start_driver, "heartbeat")
    # Nothing was sent explicitly: this pong answers pusher-js's own activity check.
    await driver.expect("message", "a", event="pusher:pong", timeout=4.0)
    await driver.expect("message", "a", event="pusher:pong", timeout=4.0)
    await publish(server, ["heartbeat"], "still-here", {})
    await driver.expect("event", "a", channel="heartbeat", event="still-here")
    assert not driver.observed("state", "a", current="disconnected")


async def test_socket_id_excludes_that_connection(
    start_driver: StartDriver, server: RunningServer
) -> None:
    driver = await start_driver(SCRIPT)
    socket_a = await connected(driver, "a")
    await connected(driver, "b")
    for client in ("a", "b"):
        await subscribed(driver, client, "feed")
    await publish(server, ["feed"], "posted", {"n": 1}, socket_id=socket_a)
    await driver.expect("event", "b", channel="feed", event="posted")

    await publish(server, ["feed"], "marker", {})
    await driver.expect("event", "a", channel="feed", event="marker")
    assert not driver.observed("event", "a", event="posted")
