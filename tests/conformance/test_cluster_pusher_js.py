"""Two `tidings serve` processes on two ports with one Redis act as one server for pusher-js.

What a new user tries first with cluster mode: start two nodes with the same Redis URL,
point one pusher-js client at each, and expect presence, client events and HTTP publishes
to behave as with one server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from tests.conformance.conftest import (
    APP_ID,
    Cluster,
    Launch,
    NodeDriver,
    ServeProcesses,
    publish_to,
    signed_url,
)
from tests.conformance.test_pusher_js_users import signed_in

pytestmark = pytest.mark.node

SCRIPT = "pusher_driver.mjs"
Drive = Callable[[int], Awaitable[NodeDriver]]


@pytest.fixture
def drive(launch: Launch) -> Drive:
    """Start a pusher-js driver against the node on a given port; stopped after the test."""

    async def start(port: int) -> NodeDriver:
        return await launch(SCRIPT, port, f"{SCRIPT}@{port}")

    return start


async def test_pusher_js_clients_split_across_two_nodes(any_cluster: Cluster, drive: Drive) -> None:
    """Presence lists, member_added/removed, client events and HTTP publishes cross nodes."""
    port_a, port_b = await any_cluster(), await any_cluster()
    on_a, on_b = await drive(port_a), await drive(port_b)
    alice = {"user_id": "1", "user_info": {"name": "Alice"}}
    bob = {"user_id": "2", "user_info": {"name": "Bob"}}
    await on_a.send("connect", "alice", user=alice)
    await on_a.expect("connected", "alice")
    await on_b.send("connect", "bob", user=bob)
    await on_b.expect("connected", "bob")

    await on_a.send("subscribe", "alice", channel="presence-room")
    await on_a.expect("subscribed", "alice", channel="presence-room")
    await on_b.send("subscribe", "bob", channel="presence-room")
    second = await on_b.expect("subscribed", "bob", channel="presence-room")
    members = second["members"]
    assert members["count"] == 2
    assert sorted(members["list"], key=lambda m: str(m["id"])) == [
        {"id": "1", "info": {"name": "Alice"}},
        {"id": "2", "info": {"name": "Bob"}},
    ]
    added = await on_a.expect("event", "alice", event="pusher:member_added")
    assert added["data"] == {"id": "2", "info": {"name": "Bob"}}

    for driver, name in ((on_a, "alice"), (on_b, "bob")):
        await driver.send("subscribe", name, channel="private-chat")
        await driver.expect("subscribed", name, channel="private-chat")
    await on_a.send("trigger", "alice", channel="private-chat", event="client-hi", data={"n": 1})
    hi = await on_b.expect("event", "bob", channel="private-chat", event="client-hi")
    assert hi["data"] == {"n": 1}

    await publish_to(f"http://127.0.0.1:{port_b}", ["private-chat"], "from-b", {"ok": True})
    for driver, name in ((on_a, "alice"), (on_b, "bob")):
        got = await driver.expect("event", name, channel="private-chat", event="from-b")
        assert got["data"] == {"ok": True}
    # Alice, the sender, never got her own client event back.
    assert not on_a.observed("event", "alice", event="client-hi")

    await on_b.send("disconnect", "bob")
    removed = await on_a.expect("event", "alice", event="pusher:member_removed")
    assert removed["data"] == {"id": "2", "info": {"name": "Bob"}}


async def test_send_to_user_and_terminate_reach_the_user_on_both_nodes(
    any_cluster: Cluster, drive: Drive
) -> None:
    """A user with a tab on each node: send_to_user through either node reaches both tabs
    (nobody else), and terminate_user_connections closes both tabs and nobody else."""
    port_a, port_b = await any_cluster(), await any_cluster()
    on_a, on_b = await drive(port_a), await drive(port_b)
    await signed_in(on_a, "ada-a", {"id": "ada"})
    await signed_in(on_b, "ada-b", {"id": "ada"})
    await signed_in(on_b, "bob-b", {"id": "bob"})

    await publish_to(f"http://127.0.0.1:{port_a}", ["#server-to-user-ada"], "hello", {"n": 1})
    for driver, name in ((on_a, "ada-a"), (on_b, "ada-b")):
        got = await driver.expect("user_event", name, event="hello")
        assert got["data"] == {"n": 1}

    url = signed_url(
        f"http://127.0.0.1:{port_a}",
        "POST",
        f"/apps/{APP_ID}/users/ada/terminate_connections",
        b"{}",
    )
    async with aiohttp.ClientSession() as http, http.post(url, data=b"{}") as response:
        assert response.status == 200, await response.text()
    for driver, name in ((on_a, "ada-a"), (on_b, "ada-b")):
        error = await driver.expect("message", name, event="pusher:error")
        assert error["data"]["code"] == 4009
    await publish_to(f"http://127.0.0.1:{port_a}", ["#server-to-user-bob"], "marker", {})
    await on_b.expect("user_event", "bob-b", event="marker")
    assert not on_b.observed("user_event", "bob-b", event="hello")
    assert not on_b.observed("message", "bob-b", event="pusher:error")


async def test_watchlist_across_nodes_and_a_node_dying(
    any_cluster: Cluster, drive: Drive, serve_process: ServeProcesses
) -> None:
    """Watchlist events come from the user's cluster-wide first/last connection: a user
    signed in on both nodes stays online when one node dies; one only on the dead node
    goes offline within the heartbeat bound."""
    port_a = await any_cluster(TIDINGS_CLUSTER_HEARTBEAT_TTL="2")
    port_b = await any_cluster(TIDINGS_CLUSTER_HEARTBEAT_TTL="2")
    on_a, on_b = await drive(port_a), await drive(port_b)
    await on_a.send("connect", "ada", signin_as={"id": "ada", "watchlist": ["bob", "cy"]})
    await on_a.expect("connected", "ada")
    await on_a.send("signin", "ada")
    assert (await on_a.expect("watchlist", "ada", name="online"))["user_ids"] == []

    await signed_in(on_b, "bob-b", {"id": "bob"})
    await on_a.expect("watchlist", "ada", name="online", user_ids=["bob"])
    await signed_in(on_a, "bob-a", {"id": "bob"})  # a second tab, on the other node
    await signed_in(on_b, "cy-b", {"id": "cy"})
    await on_a.expect("watchlist", "ada", name="online", user_ids=["cy"])

    await serve_process.by_port[port_b].kill()  # SIGKILL: no clean exit, the survivor must reap it
    offline = await on_a.expect("watchlist", "ada", name="offline", timeout=15)
    assert offline["user_ids"] == ["cy"]
    # Bob still has a tab on node A: a publish to ada after the reap shows no offline for bob.
    await publish_to(f"http://127.0.0.1:{port_a}", ["#server-to-user-ada"], "marker", {})
    await on_a.expect("user_event", "ada", event="marker")
    assert not on_a.observed("watchlist", "ada", name="offline", user_ids=["bob"])
    assert len(on_a.observed("watchlist", "ada", name="online", user_ids=["bob"])) == 1

    await on_a.send("disconnect", "bob-a")
    await on_a.expect("watchlist", "ada", name="offline", user_ids=["bob"])
