"""The sharded Redis engine: several Redis servers, each channel on one of them.

Three nodes over three shards behave as one server on channels spread over every
shard (presence, client events, webhooks once each); a node killed with -9 still
gives member_removed on every shard; a stopped shard fails its own channels only
(clearly) and they recover after it restarts; publications spread evenly.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import redis
from redis.crc import key_slot

from tests.fixtures.webhooks import Receiver, has, webhook_json
from tests.integration.conftest import (
    APP_ID,
    KEY,
    SECRET,
    STEADY_TTL,
    PusherClient,
    RedisServer,
    ServerFactory,
    eventually,
    signed_url,
)
from tests.integration.test_webhooks_cluster import (
    TTL,
    connect,
    occupancy_applied,
    settled,
    start_node_process,
    tally,
)
from tests.support.recording import RecordingHandler
from tests.support.serve import StartServe
from tidings.broker.redis import RedisBroker
from tidings.broker.redis_keys import channel_key
from tidings.broker.redis_shards import ShardMap
from tidings.domain.messages import Publication
from tidings.probe.doctor import run_doctor
from tidings.probe.result import Status
from tidings.probe.wire import Target
from tidings.server.runner import RunningServer
from tidings.typing import AppId, ChannelName

pytestmark = pytest.mark.redis


def one_per_shard(url: str, stem: str) -> list[str]:
    """A channel name ``stem-N`` on each shard of ``url`` (each master of a Redis Cluster
    made by ``redis-cli --cluster create``: slots in three equal ranges), in order."""
    count = 3 if url.startswith("redis+cluster://") else ShardMap(url).count
    found: dict[int, str] = {}
    n = 0
    while len(found) < count:
        name = f"{stem}-{n}"
        found.setdefault(_shard_of(url, name), name)
        n += 1
    return [found[i] for i in range(count)]


def _shard_of(url: str, channel: str) -> int:
    if url.startswith("redis+cluster://"):
        return key_slot(channel_key("t", "pub", APP_ID, channel).encode()) * 3 // 16384
    return ShardMap(url).index(APP_ID, channel)


def servers(url: str) -> list[str]:
    """A plain URL of each Redis server behind ``url`` (shards, or a Cluster's masters)."""
    if url.startswith("redis+cluster://"):
        return [f"redis://{seed}/0" for seed in url.removeprefix("redis+cluster://").split(",")]
    return url.split(",")


#: The engines these tests run over: three shards, and a Redis Cluster of three masters.
ENGINES = pytest.mark.parametrize("engine", ["redis_shards_url", "redis_cluster_url"])


def member(user_id: str) -> str:
    return json.dumps({"user_id": user_id})


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test only (on this session's own servers)."""
    return f"test-sh-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def engine_url(request: pytest.FixtureRequest, engine: str) -> str:
    """The broker URL of the engine under test."""
    url: str = request.getfixturevalue(engine)
    return url


async def http(server: RunningServer, method: str, path: str, body: bytes = b"") -> Any:
    """A signed HTTP API call: (status, JSON body)."""
    url = signed_url(server.http_url, method, path, body)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, data=body or None, headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def trigger(server: RunningServer, channel: str, data: str) -> tuple[int, Any]:
    body = orjson.dumps({"name": "update", "channels": [channel], "data": data})
    status, reply = await http(server, "POST", f"/apps/{APP_ID}/events", body)
    return int(status), reply


@ENGINES
async def test_three_nodes_over_three_shards_each_event_once(
    server_factory: ServerFactory, engine_url: str, prefix: str, receiver: Receiver
) -> None:
    """On a presence channel of each shard: members cross nodes, a client event crosses
    nodes, and occupied/member_added/client_event/member_removed/vacated webhooks come
    once each though three nodes saw the channel."""
    hooks = webhook_json(receiver.url())
    settings = {
        "broker_url": engine_url,
        "redis_prefix": prefix,
        "cluster_heartbeat_ttl": STEADY_TTL,
        "default_app_webhooks": hooks,
    }
    a, b, c = [await server_factory(**settings) for _ in range(3)]
    channels = one_per_shard(engine_url, "presence-room")
    clients: list[PusherClient] = []
    for channel in channels:
        on_a, on_b, on_c = [await connect(s.ws_url) for s in (a, b, c)]
        clients += [on_a, on_b, on_c]
        await on_a.subscribe(channel, channel_data=member("u1"))
        await on_b.subscribe(channel, channel_data=member("u2"))
        added = await on_a.expect("pusher_internal:member_added")
        assert added["channel"] == channel and added["data"]["user_id"] == "u2"
        joined = await on_c.subscribe(channel, channel_data=member("u3"))
        assert sorted(joined["data"]["presence"]["ids"]) == ["u1", "u2", "u3"]
        await occupancy_applied(a, b, c)  # all three hold it before any leaves
        await on_c.send("client-hi", {"on": channel}, channel=channel)
        hi = await on_a.expect("client-hi")
        assert hi["data"] == {"on": channel}
        await on_b.expect("client-hi")
        for client in (on_a, on_b, on_c):
            await client.ws.close()
        await receiver.wait_for(has("channel_vacated", channel))
    await settled(a, b, c)
    for channel in channels:
        assert tally(receiver, channel) == Counter(
            {
                ("channel_occupied", None): 1,
                ("member_added", "u1"): 1,
                ("member_added", "u2"): 1,
                ("member_added", "u3"): 1,
                ("client_event", "u3"): 1,
                ("member_removed", "u1"): 1,
                ("member_removed", "u2"): 1,
                ("member_removed", "u3"): 1,
                ("channel_vacated", None): 1,
            }
        ), channel


@ENGINES
async def test_kill_9_of_a_node_gives_member_removed_on_every_shard(
    server_factory: ServerFactory,
    engine_url: str,
    prefix: str,
    receiver: Receiver,
    serve: StartServe,
) -> None:
    """A node process holding members on a channel of each shard dies with SIGKILL: the
    survivor's clients get member_removed on each, and the webhook comes once each."""
    hooks = webhook_json(receiver.url())
    survivor = await server_factory(
        broker_url=engine_url,
        redis_prefix=prefix,
        cluster_heartbeat_ttl=TTL,
        default_app_webhooks=hooks,
    )
    proc = await start_node_process(serve, engine_url, prefix, hooks)
    channels = one_per_shard(engine_url, "presence-doom")
    watchers: list[PusherClient] = []
    for channel in channels:
        doomed = await connect(proc.ws_url)
        await doomed.subscribe(channel, channel_data=member("doomed"))
        watcher = await connect(survivor.ws_url)
        joined = await watcher.subscribe(channel, channel_data=member("watcher"))
        assert "doomed" in joined["data"]["presence"]["ids"]
        watchers.append(watcher)
    await proc.kill()
    for channel, watcher in zip(channels, watchers, strict=True):
        removed = await watcher.expect("pusher_internal:member_removed", TTL * 4 + 10)
        assert removed["channel"] == channel and removed["data"]["user_id"] == "doomed"
    for watcher in watchers:
        await watcher.ws.close()
    for channel in channels:
        await receiver.wait_for(has("channel_vacated", channel))
    await settled(survivor)
    for channel in channels:
        assert tally(receiver, channel)[("member_removed", "doomed")] == 1


@pytest.fixture
def three_redis() -> Iterator[list[RedisServer]]:
    """Three redis-servers of this test (kill and start them at will)."""
    servers: list[RedisServer] = []
    try:
        for _ in range(3):
            servers.append(RedisServer().start())
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_a_stopped_shard_fails_its_channels_only_and_recovers(
    server_factory: ServerFactory, three_redis: list[RedisServer]
) -> None:
    """Shard 1 stops: its channel's publishes are held, then refused with 503 naming the
    shard; its presence channel's users answer 503; /ready says degraded naming it; the
    other shards' channels keep delivering across nodes. It restarts: the held
    publications and new ones arrive, in order."""
    url = ",".join(server.url for server in three_redis)
    settings: dict[str, Any] = {"broker_url": url, "redis_prefix": "t", "broker_buffer_bytes": 600}
    a = await server_factory(**settings)
    b = await server_factory(**settings)
    lit, dark, _ = one_per_shard(url, "news")
    dark_presence = one_per_shard(url, "presence-team")[1]
    label = ShardMap(url).labels[1]
    on_b = await connect(b.ws_url)
    for channel in (dark, lit):
        await on_b.subscribe(channel)

    three_redis[1].kill()
    await eventually(lambda: _down(a, b), 10)
    held, refused = [], None
    for i in range(50):  # ~150-byte payloads: the 600-byte buffer takes a few
        status, reply = await trigger(a, dark, f'"held {i}"')
        if status != 200:
            refused = (status, reply)
            break
        held.append(f"held {i}")
    assert refused is not None and refused[0] == 503, refused
    assert label in refused[1]["error"] + refused[1]["hint"]
    assert held  # some were held before the buffer filled
    assert (await trigger(a, lit, '"lit"'))[0] == 200
    assert (await on_b.expect("update"))["data"] == "lit"  # the others keep delivering
    status, reply = await http(a, "GET", f"/apps/{APP_ID}/channels/{dark_presence}/users")
    assert status == 503 and label in reply["error"], reply
    async with aiohttp.ClientSession() as session, session.get(f"{a.http_url}/ready") as ready:
        body = await ready.json()
    assert ready.status == 200 and body["status"] == "degraded", body
    assert [item["shard"] for item in body["shards_down"]] == [label]
    target = Target(a.http_url, app_id=APP_ID, key=KEY, secret=SECRET, timeout=3.0)
    doctor = {r.name: r for r in await run_doctor(target)}
    for name in ("ready", "broker"):
        assert doctor[name].status is Status.FAIL and label in doctor[name].detail, doctor[name]

    three_redis[1].start()
    await eventually(lambda: _up(a, b), 10)

    async def accepted() -> bool:  # the full buffer refuses until it was sent (Retry-After)
        return (await trigger(a, dark, '"after"'))[0] == 200

    await eventually(accepted, 10)
    got = [(await on_b.expect("update"))["data"] for _ in range(len(held) + 1)]
    assert got == [*held, "after"]
    await on_b.ws.close()


async def _down(*servers: RunningServer) -> bool:
    return all(not s.state.node.broker.healthy for s in servers)


async def _up(*servers: RunningServer) -> bool:
    return all(s.state.node.broker.healthy for s in servers)


def _publishes(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    counts = (stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("publish", "spublish"))
    return sum(int(n) for n in counts)


@ENGINES
async def test_a_thousand_channels_spread_evenly_over_the_shards(engine_url: str) -> None:
    """One publication on each of 1 000 channels: each shard's (each master's) own PUBLISH
    or SPUBLISH count (INFO commandstats) is within +-20 % of an even share."""
    urls = servers(engine_url)
    before = [_publishes(url) for url in urls]
    broker = RedisBroker(engine_url, node_id="spread", prefix=f"t-{uuid.uuid4().hex[:8]}")
    try:
        await broker.start(RecordingHandler())
        for i in range(1000):
            await broker.publish(Publication(AppId("1"), ChannelName(f"ch-{i}"), "e", "1"))
    finally:
        await broker.close()  # sends what is queued first
    counts = [_publishes(url) - b for url, b in zip(urls, before, strict=True)]
    assert sum(counts) == 1000
    even = 1000 / len(urls)
    assert all(0.8 * even <= n <= 1.2 * even for n in counts), counts


@ENGINES
async def test_client_for_is_where_a_channels_keys_live(engine_url: str) -> None:
    """``client_for`` gives the client of the channel's shard: a cache event stored by a
    publication is read there (per-channel scripts such as history's run there)."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(engine_url, node_id="keys", prefix=prefix)
    try:
        await broker.start(RecordingHandler())
        for name in one_per_shard(engine_url, "cache-score"):
            channel = ChannelName(name)
            await broker.publish(Publication(AppId(APP_ID), channel, "e", '"1"', cache=True))
            key = channel_key(prefix, "cache", APP_ID, channel)
            assert await broker.client_for(AppId(APP_ID), channel).get(key) is not None
    finally:
        await broker.close()
