"""Real Laravel Echo 2.5 over pusher-js 8.6 against a tidings server, as a Laravel app uses it.

Echo's event names: ``.listen('.OrderShipped')`` (leading dot) listens for the event named
exactly ``OrderShipped``; ``.listen('OrderShipped')`` prefixes Echo's default namespace and
listens for ``App\\Events\\OrderShipped``, the name Laravel broadcasts for that event class.
Negative outcomes are proven by ordering (a marker published afterwards arrives first), as in
test_pusher_js.py.

Every test runs with channel history off and on (``HISTORY_OFF_ON``): on a history channel
each event frame carries top-level ``serial`` and ``stream_id``, and Echo must behave the
same. Each test also reads the channel's history endpoint, which proves that history was
really on (the events it published are kept; whispers never are) or off (404).
"""

from __future__ import annotations

import re

import pytest

from tests.conformance.conftest import (
    HISTORY_OFF_ON,
    NodeDriver,
    StartDriver,
    kept_events,
    publish,
)
from tidings.server.runner import RunningServer

pytestmark = [pytest.mark.node, HISTORY_OFF_ON]

SCRIPT = "echo_driver.mjs"


async def connected(driver: NodeDriver, client: str, **fields: object) -> str:
    """Connect an Echo instance named ``client``; return ``Echo.socketId()``."""
    await driver.send("connect", client, **fields)
    return str((await driver.expect("connected", client))["socket_id"])


async def assert_kept(
    server: RunningServer, history: bool, channel: str, events: list[str]
) -> None:
    """With ``history``, ``channel`` kept exactly ``events``; without, it keeps nothing (404)."""
    assert await kept_events(server.http_url, channel) == (events if history else None)


@pytest.mark.parametrize("broadcaster", ["pusher", "reverb"])
async def test_private_listen_receives_dot_prefixed_and_namespaced_events(
    start_driver: StartDriver, server: RunningServer, broadcaster: str, history: bool
) -> None:
    driver = await start_driver(SCRIPT)
    socket_id = await connected(driver, "a", broadcaster=broadcaster)
    assert re.fullmatch(r"\d+\.\d+", socket_id), socket_id
    await driver.send("private", "a", channel="orders", listen=[".OrderShipped", "OrderShipped"])
    await driver.expect("subscribed", "a", channel="orders")

    await publish(server, ["private-orders"], "OrderShipped", {"order": {"id": 1}})
    plain = await driver.expect("event", "a", listener=".OrderShipped")
    assert plain["data"] == {"order": {"id": 1}}

    await publish(server, ["private-orders"], "App\\Events\\OrderShipped", {"order": {"id": 2}})
    namespaced = await driver.expect("event", "a", listener="OrderShipped")
    assert namespaced["data"] == {"order": {"id": 2}}
    # A barrier: once it is in, each listener has had only the events named for it, once.
    await publish(server, ["private-orders"], "OrderShipped", {"order": {"id": 3}})
    await driver.expect("event", "a", listener=".OrderShipped", data={"order": {"id": 3}})
    got = [(o["listener"], o["data"]["order"]["id"]) for o in driver.observed("event", "a")]
    assert got == [(".OrderShipped", 1), ("OrderShipped", 2), (".OrderShipped", 3)]
    kept = ["OrderShipped", "App\\Events\\OrderShipped", "OrderShipped"]
    await assert_kept(server, history, "private-orders", kept)


async def test_public_channel_listen(
    start_driver: StartDriver, server: RunningServer, history: bool
) -> None:
    driver = await start_driver(SCRIPT)
    await connected(driver, "a")
    await driver.send("channel", "a", channel="news", listen=[".Published"])
    await driver.expect("subscribed", "a", channel="news")
    await publish(server, ["news"], "Published", {"title": "hello"})
    event = await driver.expect("event", "a", channel="news", listener=".Published")
    assert event["data"] == {"title": "hello"}
    await assert_kept(server, history, "news", ["Published"])


async def test_whisper_reaches_other_client_not_the_sender(
    start_driver: StartDriver, server: RunningServer, history: bool
) -> None:
    driver = await start_driver(SCRIPT)
    for client in ("a", "b"):
        await connected(driver, client)
        await driver.send(
            "private", client, channel="chat.1", listen=[".Marker"], whispers=["typing"]
        )
        await driver.expect("subscribed", client, channel="chat.1")
    await driver.send(
        "whisper", "a", kind="private", channel="chat.1", event="typing", data={"name": "A"}
    )
    got = await driver.expect("whisper", "b", channel="chat.1", name="typing")
    assert got["data"] == {"name": "A"}

    await publish(server, ["private-chat.1"], "Marker", {})
    await driver.expect("event", "a", listener=".Marker")
    assert not driver.observed("whisper", "a")
    await assert_kept(server, history, "private-chat.1", ["Marker"])  # whispers never are


async def test_join_here_joining_leaving(
    start_driver: StartDriver, server: RunningServer, history: bool
) -> None:
    driver = await start_driver(SCRIPT)
    alice = {"user_id": 1, "user_info": {"id": 1, "name": "Alice"}}
    bob = {"user_id": 2, "user_info": {"id": 2, "name": "Bob"}}
    await connected(driver, "alice", user=alice)
    await driver.send("join", "alice", channel="room.5", listen=[".Scored"])
    here = await driver.expect("here", "alice", channel="room.5")
    assert here["users"] == [{"id": 1, "name": "Alice"}]

    await connected(driver, "bob", user=bob)
    await driver.send("join", "bob", channel="room.5", whispers=["wave"])
    bob_here = await driver.expect("here", "bob", channel="room.5")
    assert sorted(bob_here["users"], key=lambda user: int(user["id"])) == [
        {"id": 1, "name": "Alice"},
        {"id": 2, "name": "Bob"},
    ]
    joining = await driver.expect("joining", "alice", channel="room.5")
    assert joining["user"] == {"id": 2, "name": "Bob"}

    # Whispers work on presence channels too.
    await driver.send("whisper", "alice", kind="presence", channel="room.5", event="wave", data={})
    await driver.expect("whisper", "bob", channel="room.5", name="wave")

    await driver.send("leave", "bob", channel="room.5")
    leaving = await driver.expect("leaving", "alice", channel="room.5")
    assert leaving["user"] == {"id": 2, "name": "Bob"}

    # And .listen on a presence channel.
    await publish(server, ["presence-room.5"], "Scored", {"points": 3})
    scored = await driver.expect("event", "alice", channel="room.5", listener=".Scored")
    assert scored["data"] == {"points": 3}
    await assert_kept(server, history, "presence-room.5", ["Scored"])


async def test_to_others_excludes_the_socket_in_x_socket_id(
    start_driver: StartDriver, server: RunningServer, history: bool
) -> None:
    """``broadcast(...)->toOthers()`` sends Echo.socketId() (the X-Socket-ID header) along."""
    driver = await start_driver(SCRIPT)
    for client in ("sender", "viewer"):
        await connected(driver, client)
        await driver.send("private", client, channel="board", listen=[".Moved", ".Marker"])
        await driver.expect("subscribed", client, channel="board")
    await driver.send("socket_id", "sender")
    x_socket_id = str((await driver.expect("socket_id", "sender"))["socket_id"])
    assert re.fullmatch(r"\d+\.\d+", x_socket_id), x_socket_id

    await publish(server, ["private-board"], "Moved", {"card": 4}, socket_id=x_socket_id)
    moved = await driver.expect("event", "viewer", listener=".Moved")
    assert moved["data"] == {"card": 4}

    await publish(server, ["private-board"], "Marker", {})
    await driver.expect("event", "sender", listener=".Marker")
    assert not driver.observed("event", "sender", listener=".Moved")
    await assert_kept(server, history, "private-board", ["Moved", "Marker"])
