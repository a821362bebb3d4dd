"""Several tidings nodes over one real Redis act as one server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import (
    APP_ID,
    KEY,
    SECRET,
    TIMEOUT,
    PusherClient,
    RedisServer,
    ServerFactory,
    client,
    eventually,
    publish,
    signed_url,
)
from tests.support.serve import StartServe
from tidings.broker.redis import RedisBroker
from tidings.protocol.signing import user_auth
from tidings.server.runner import RunningServer
from tidings.typing import AppId, ChannelName

TTL = 1.5  # cluster_heartbeat_ttl of test nodes: they beat every 0.5 s

NodeFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def node_factory(server_factory: ServerFactory, redis_url: str) -> NodeFactory:
    """Start nodes sharing one Redis under a key prefix of this test only."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    async def start(url: str = redis_url, **overrides: Any) -> RunningServer:
        return await server_factory(
            broker_url=url, redis_prefix=prefix, cluster_heartbeat_ttl=TTL, **overrides
        )

    return start


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_publish_on_a_reaches_b_once_in_order(node_factory: NodeFactory) -> None:
    """An HTTP publish on node A reaches subscribers on A and B exactly once, in order."""
    a, b = await node_factory(), await node_factory()
    on_a, on_b = await client(a), await client(b)
    await on_a.subscribe("news")
    await on_b.subscribe("news")
    for i in range(20):
        await publish(a, ["news"], "n", str(i))
    await publish(a, ["news"], "end", "0")
    for c in (on_a, on_b):
        seen = []
        while (message := await c.recv())["event"] != "end":
            seen.append(message["data"])
        assert seen == list(range(20))


async def test_client_event_and_exclusion_across_nodes(node_factory: NodeFactory) -> None:
    """A client event on A reaches B; a socket_id publish on B skips that client on A."""
    a, b = await node_factory(), await node_factory()
    on_a, on_b = await client(a), await client(b)
    await on_a.subscribe("private-chat")
    await on_b.subscribe("private-chat")
    await on_a.send("client-hi", {"x": 1}, channel="private-chat")
    assert (await on_b.expect("client-hi"))["data"] == {"x": 1}
    await publish(b, ["private-chat"], "e", '"skip"', socket_id=on_a.socket_id)
    await publish(b, ["private-chat"], "marker", '"m"')
    assert (await on_a.recv())["event"] == "marker"  # "e" never came before it


async def test_presence_across_nodes(node_factory: NodeFactory) -> None:
    """Members on two nodes form one set: a user on both nodes is one member."""
    a, b = await node_factory(), await node_factory()
    alice, bob_on_b, bob_on_a = await client(a), await client(b), await client(a)
    await alice.subscribe("presence-room", channel_data='{"user_id":"alice"}')
    await bob_on_b.subscribe("presence-room", channel_data='{"user_id":"bob"}')
    assert (await alice.expect("pusher_internal:member_added"))["data"]["user_id"] == "bob"
    joined = await bob_on_a.subscribe("presence-room", channel_data='{"user_id":"bob"}')
    assert sorted(joined["data"]["presence"]["ids"]) == ["alice", "bob"]
    await bob_on_b.ws.close()
    await bob_on_a.send("pusher:ping", {})
    await bob_on_a.expect("pusher:pong")
    await bob_on_a.ws.close()
    removed = await alice.expect("pusher_internal:member_removed")
    assert removed["data"]["user_id"] == "bob"


async def test_channel_info_counts_every_node(node_factory: NodeFactory) -> None:
    """The HTTP API on A reports subscribers on B (within a heartbeat)."""
    a, b = await node_factory(), await node_factory()
    for server in (a, b, b):
        await (await client(server)).subscribe("counted")
    path = f"/apps/{APP_ID}/channels/counted"

    async def three() -> bool:
        url = signed_url(a.http_url, "GET", path, extra={"info": "subscription_count"})
        status, body = await get_json(url)
        return status == 200 and body.get("subscription_count") == 3

    await eventually(three)
    status, health = await get_json(f"{a.http_url}/health")
    assert sorted(health["peers"]) == sorted([a.state.node.node_id, b.state.node.node_id])


async def test_terminate_on_a_closes_connection_on_b(node_factory: NodeFactory) -> None:
    """terminate_connections through A closes the user's connection held by B (4009)."""
    a, b = await node_factory(), await node_factory()
    user = await client(b)
    user_data = '{"id":"u42"}'
    await user.send(
        "pusher:signin",
        {"auth": user_auth(KEY, SECRET, user.socket_id, user_data), "user_data": user_data},
    )
    await user.expect("pusher:signin_success")
    path = f"/apps/{APP_ID}/users/u42/terminate_connections"
    url = signed_url(a.http_url, "POST", path, b"{}")
    async with aiohttp.ClientSession() as http, http.post(url, data=b"{}") as response:
        assert response.status == 200
    error = await user.expect("pusher:error")
    assert error["data"]["code"] == 4009


async def test_killed_node_members_removed_by_survivor(
    node_factory: NodeFactory, redis_url: str, serve: StartServe
) -> None:
    """kill -9 of a node process: the survivor emits member_removed within the heartbeat TTL."""
    survivor = await node_factory()
    prefix = survivor.state.settings.redis_prefix
    env = {
        "TIDINGS_BROKER_URL": redis_url,
        "TIDINGS_REDIS_PREFIX": prefix,
        "TIDINGS_CLUSTER_HEARTBEAT_TTL": str(TTL),
    }
    proc = await serve(env)
    ws = await websockets.connect(f"{proc.ws_url}/app/{KEY}?protocol=7")
    established = orjson.loads(await ws.recv())
    doomed = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
    watcher = await client(survivor)
    await watcher.subscribe("presence-x", channel_data='{"user_id":"watcher"}')
    await doomed.subscribe("presence-x", channel_data='{"user_id":"doomed"}')
    await watcher.expect("pusher_internal:member_added")
    await proc.kill()
    started = time.monotonic()
    removed = await watcher.expect("pusher_internal:member_removed", timeout=TTL * 4 + 5)
    assert removed["data"]["user_id"] == "doomed"
    assert time.monotonic() - started < TTL * 4 + 5
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), TIMEOUT)


async def test_redis_restart_ready_and_delivery_resume(
    node_factory: NodeFactory, own_redis: RedisServer
) -> None:
    """Redis dies: /ready turns 503 and local delivery goes on; it returns: A→B resumes."""
    a, b = await node_factory(own_redis.url), await node_factory(own_redis.url)
    on_a, on_b = await client(a), await client(b)
    await on_a.subscribe("live")
    await on_b.subscribe("live")
    own_redis.kill()

    async def not_ready() -> bool:
        return (await get_json(f"{a.http_url}/ready"))[0] == 503

    await eventually(not_ready)
    await publish(a, ["live"], "local", '"1"')
    assert (await on_a.expect("local"))["data"] == "1"
    own_redis.start()

    async def ready() -> bool:
        return (await get_json(f"{a.http_url}/ready"))[0] == 200 and b.state.node.broker.healthy

    await eventually(ready)
    await publish(a, ["live"], "again", '"2"')
    assert (await on_b.expect("again"))["data"] == "2"
    assert (await on_a.expect("again"))["data"] == "2"


async def test_presence_during_outage_is_refused_cleanly(
    node_factory: NodeFactory, own_redis: RedisServer
) -> None:
    """A presence subscribe while Redis is down gets a subscription_error; the node survives."""
    a = await node_factory(own_redis.url)
    c = await client(a)
    own_redis.kill()
    reply = await c.subscribe("presence-down", channel_data='{"user_id":"u"}')
    assert reply["event"] == "pusher:subscription_error"
    assert reply["data"]["status"] == 503
    await c.send("pusher:ping", {})
    await c.expect("pusher:pong")


async def test_broker_stops_listening_when_the_last_local_subscriber_leaves(
    node_factory: NodeFactory,
) -> None:
    """Redis subscriptions follow local subscribers: after every client left (some closing
    right after sending their subscribe), the node listens to no channel any more."""
    a = await node_factory()
    broker = a.state.node.broker
    assert isinstance(broker, RedisBroker)
    clients = [await client(a) for _ in range(6)]
    for i, pusher in enumerate(clients):
        if i % 2:
            await pusher.subscribe(f"churn-{i % 3}")
        else:  # leave while the subscribe may still be in flight
            await pusher.send("pusher:subscribe", {"channel": f"churn-{i % 3}"})
    for pusher in clients:
        await pusher.ws.close()

    async def none_left() -> bool:
        return broker.subscribed_channels == 0 and not a.state.connections

    await eventually(none_left)


async def test_node_whose_heartbeat_lapsed_adds_its_members_again(
    node_factory: NodeFactory,
) -> None:
    """Peers reaped A as dead while it was only late: A's next beat sees the lapse and adds its
    member again, so B's clients see member_removed, then member_added, and the count is 1."""
    a, b = await node_factory(), await node_factory()
    member_data = orjson.dumps({"user_id": "ann", "user_info": {}}).decode()
    ann = await client(a)
    await ann.subscribe("presence-late", channel_data=member_data)
    watcher = await client(b)
    await watcher.subscribe("presence-late", channel_data=orjson.dumps({"user_id": "w"}).decode())
    # B declares A dead (as a sweep would after A's key expired), which also deletes
    # A's heartbeat key: A's next beat finds it missing.
    assert b.state.node.cluster is not None
    await b.state.node.cluster.peer_died(a.state.node.node_id)
    removed = await watcher.expect("pusher_internal:member_removed")
    assert removed["data"]["user_id"] == "ann"
    added = await watcher.expect("pusher_internal:member_added", timeout=TTL * 4)
    assert added["data"]["user_id"] == "ann"
    assert await b.state.node.user_count(AppId(APP_ID), ChannelName("presence-late")) == 2
