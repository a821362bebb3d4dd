"""Three nodes as one server: exactly-once delivery, one member per user, cache and outages.

Complements ``test_cluster.py`` (two nodes) with the properties that need a third node or
an exact count of frames, and with a Redis that pauses (SIGSTOP) instead of restarting, so
its data survives the outage.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import (
    APP_ID,
    STEADY_TTL,
    PusherClient,
    RedisServer,
    ServerFactory,
    client,
    eventually,
    publish,
    signed_url,
)
from tidings.server.runner import RunningServer

NodeFactory = Callable[..., Awaitable[RunningServer]]

_SETTLE_S = 20.0  # bound for state that settles only after a node reconnects


@pytest.fixture
def nodes(server_factory: ServerFactory, redis_url: str) -> NodeFactory:
    """Start nodes sharing one Redis under a key prefix of this test only."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    async def start(url: str = redis_url, ttl: float = STEADY_TTL) -> RunningServer:
        return await server_factory(broker_url=url, redis_prefix=prefix, cluster_heartbeat_ttl=ttl)

    return start


async def until_marker(c: PusherClient, marker: str) -> list[dict[str, Any]]:
    """Every message before the event named ``marker`` (pings answered, none skipped)."""
    seen = []
    while (message := await c.recv())["event"] != marker:
        seen.append(message)
    return seen


async def test_three_nodes_each_publication_once_in_order(nodes: NodeFactory) -> None:
    """HTTP publishes on each of three nodes reach every subscriber on every node exactly once,
    in publish order per publishing node, with nothing duplicated."""
    servers = [await nodes() for _ in range(3)]
    clients = [await client(s) for s in servers for _ in range(2)]
    for c in clients:
        await c.subscribe("wide")
    for i in range(10):
        for n, server in enumerate(servers):
            await publish(server, ["wide"], "e", f'"{n}-{i}"')
    # The fence goes out after every other publication was acknowledged, from each node:
    # a duplicate or a straggler would show up before the last fence.
    for server in servers:
        await publish(server, ["wide"], "fence", '"f"')
    for c in clients:
        seen = []
        fences = 0
        while fences < 3:
            message = await c.recv()
            if message["event"] == "fence":
                fences += 1
            else:
                seen.append(message["data"])
        assert sorted(seen) == sorted(f"{n}-{i}" for n in range(3) for i in range(10))
        for n in range(3):
            assert [d for d in seen if d.startswith(f"{n}-")] == [f"{n}-{i}" for i in range(10)]
    # A second round of fences: a late duplicate would arrive before them.
    for server in servers:
        await publish(server, ["wide"], "fence", '"f2"')
    for c in clients:
        assert [(await c.recv())["data"] for _ in range(3)] == ["f2"] * 3


async def test_one_member_per_user_across_three_nodes(nodes: NodeFactory) -> None:
    """Bob on B and C is one member: one member_added on A, member_removed only when his
    last connection (anywhere) leaves; the users list on A counts him once."""
    a, b, c = await nodes(), await nodes(), await nodes()
    watcher = await client(a)
    await watcher.subscribe("presence-trio", channel_data='{"user_id":"w"}')
    bob_b, bob_c = await client(b), await client(c)
    await bob_b.subscribe("presence-trio", channel_data='{"user_id":"bob"}')
    joined = await bob_c.subscribe("presence-trio", channel_data='{"user_id":"bob"}')
    assert sorted(joined["data"]["presence"]["ids"]) == ["bob", "w"]
    await publish(c, ["presence-trio"], "marker1", '"m"')
    before = await until_marker(watcher, "marker1")
    assert [(m["event"], m["data"]["user_id"]) for m in before] == [
        ("pusher_internal:member_added", "bob")
    ]
    path = f"/apps/{APP_ID}/channels/presence-trio/users"
    async with aiohttp.ClientSession() as http, http.get(signed_url(a.http_url, "GET", path)) as r:
        assert sorted(u["id"] for u in (await r.json())["users"]) == ["bob", "w"]
    await bob_b.ws.close()
    await bob_b.ws.wait_closed()
    # B has processed the close once its node no longer holds the socket.
    await eventually(lambda: _no_connections(b), _SETTLE_S)
    await publish(b, ["presence-trio"], "marker2", '"m"')
    assert await until_marker(watcher, "marker2") == []  # bob is still there, on C
    await bob_c.ws.close()
    removed = await watcher.expect("pusher_internal:member_removed")
    assert removed["data"]["user_id"] == "bob"
    await publish(a, ["presence-trio"], "marker3", '"m"')
    assert await until_marker(watcher, "marker3") == []  # and only once


async def _no_connections(server: RunningServer) -> bool:
    return not server.state.connections


async def test_cache_channel_last_event_across_nodes(nodes: NodeFactory) -> None:
    """A cache channel published on A (no subscriber anywhere) serves its last event to a
    subscriber that arrives on B."""
    a, b = await nodes(), await nodes()
    await publish(a, ["cache-prices"], "tick", '"42"')
    late = await client(b)
    reply = await late.subscribe("cache-prices")
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    cached = await late.recv()
    assert (cached["event"], cached["data"]) == ("tick", "42")


async def test_member_leaving_during_outage_is_removed_after_it(
    nodes: NodeFactory, own_redis: RedisServer
) -> None:
    """Redis pauses (keeping its data) while a presence member leaves B: B's removal fails,
    and once Redis answers again B removes the member, so A's users list is right."""
    # A long TTL: nothing may expire during the pause, only the retried removal may fix it.
    a, b = await nodes(own_redis.url, ttl=60.0), await nodes(own_redis.url, ttl=60.0)
    watcher, leaver = await client(a), await client(b)
    await watcher.subscribe("presence-gap", channel_data='{"user_id":"w"}')
    await leaver.subscribe("presence-gap", channel_data='{"user_id":"gone"}')
    await watcher.expect("pusher_internal:member_added")
    users_url = signed_url(a.http_url, "GET", f"/apps/{APP_ID}/channels/presence-gap/users")

    async def users() -> list[str]:
        async with aiohttp.ClientSession() as http, http.get(users_url) as response:
            if response.status != 200:
                return []
            return sorted(u["id"] for u in (await response.json())["users"])

    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)  # our own redis-server, by PID
    try:
        await eventually(_broker_down(b), _SETTLE_S)
        await leaver.ws.close()
        await eventually(lambda: _removal_failed(b), _SETTLE_S)
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)

    async def only_watcher() -> bool:
        return a.state.node.broker.healthy and await users() == ["w"]

    await eventually(only_watcher, _SETTLE_S)


async def _removal_failed(server: RunningServer) -> bool:
    # The node's own record of what it must retry: the only sign the removal was refused.
    return server.state.node.presence.pending_removals > 0


def _broker_down(server: RunningServer) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not server.state.node.broker.healthy

    return check
