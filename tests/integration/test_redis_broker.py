"""Two Redis nodes in one process: fan-out, presence across nodes, dead nodes, Redis restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
import structlog

from tests.integration.conftest import BrokerPair
from tests.support.recording import RecordingHandler
from tests.support.redis import RedisServer
from tests.support.waiting import eventually
from tidings.broker.redis import RedisBroker, RedisPresenceStore, encode_message
from tidings.broker.redis_keys import channel_key
from tidings.domain.messages import Member, Publication
from tidings.typing import AppId, ChannelName, SocketId, UserId

pytestmark = pytest.mark.redis

APP = AppId("1")
NEWS = ChannelName("news")
ROOM = ChannelName("presence-room")
ALICE, BOB = UserId("alice"), UserId("bob")
TIMEOUT = 10.0


def pub(channel: ChannelName, data: str) -> Publication:
    return Publication(app_id=APP, channel=channel, event="update", data=data)


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def test_publish_on_a_reaches_b_once_in_order(
    broker_pair: BrokerPair,
) -> None:
    """Every publication of A reaches B once, in order; A's own subscribers get it once too."""
    a, b, on_a, on_b = broker_pair
    await a.subscribe(APP, NEWS)
    await b.subscribe(APP, NEWS)
    sent = [pub(NEWS, str(i)) for i in range(200)]
    for p in sent:
        await a.publish(p)
    assert await on_b.wait_for(200) == sent
    # A fence from B travels behind any echo of A's publications: none may show up before it.
    fence = pub(NEWS, '"fence"')
    await b.publish(fence)
    assert await on_a.wait_for(201) == [*sent, fence]
    assert on_b.received == [*sent, fence]


async def test_node_without_subscribers_receives_nothing(
    broker_pair: BrokerPair,
) -> None:
    """B does not get channels it never subscribed to."""
    a, b, _, on_b = broker_pair
    await b.subscribe(APP, NEWS)
    await a.publish(pub(ChannelName("sport"), '"no"'))
    await a.publish(pub(NEWS, '"yes"'))
    assert [p.data for p in await on_b.wait_for(1)] == ['"yes"']


async def test_subscribe_right_before_publish_is_not_missed(
    broker_pair: BrokerPair,
) -> None:
    """Once ``subscribe`` returned on B, A's very next publication reaches B."""
    a, b, _, on_b = broker_pair
    for i in range(30):
        channel = ChannelName(f"fresh-{i}")
        await b.subscribe(APP, channel)
        await a.publish(pub(channel, str(i)))
        assert (await on_b.wait_for(i + 1))[-1] == pub(channel, str(i))


async def test_cache_channel_last_event_is_shared(
    broker_pair: BrokerPair,
) -> None:
    """A cache channel's last event published on A is read on B."""
    a, b, _, _ = broker_pair
    cache = ChannelName("cache-score")
    score = Publication(APP, cache, "update", '"1-0"', cache=True)
    await a.publish(score)
    assert await b.last_event(APP, cache) == score


@pytest.fixture
async def stores(
    redis_url: str, prefix: str
) -> AsyncIterator[tuple[RedisPresenceStore, RedisPresenceStore]]:
    """Two presence stores ("node-a" beats every 3 s; "node-b" every 0.1 s, TTL 0.4 s)."""
    a = RedisPresenceStore(redis_url, node_id="node-a", prefix=prefix)
    b = RedisPresenceStore(
        redis_url, node_id="node-b", prefix=prefix, heartbeat_ttl=0.4, heartbeat_interval=0.1
    )
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def member(user_id: UserId, node: str) -> Member:
    return Member(user_id=user_id, info={"name": user_id})


async def test_same_user_on_two_nodes_is_one_member(
    stores: tuple[RedisPresenceStore, RedisPresenceStore],
) -> None:
    """Alice on A and on B is one member; she leaves when her last connection, anywhere, does."""
    a, b = stores
    assert await a.add(APP, ROOM, SocketId("1.1"), member(ALICE, "a")) is True
    assert await b.add(APP, ROOM, SocketId("2.1"), member(ALICE, "b")) is False
    assert await a.members(APP, ROOM) == await b.members(APP, ROOM) == {ALICE: {"name": ALICE}}
    assert await b.count(APP, ROOM) == 1
    # The same socket id on another node is another connection.
    assert await b.remove(APP, ROOM, SocketId("1.1"), ALICE) is False
    assert await a.remove(APP, ROOM, SocketId("1.1"), ALICE) is False
    assert await b.remove(APP, ROOM, SocketId("2.1"), ALICE) is True
    assert await a.count(APP, ROOM) == 0


async def test_dead_node_members_are_removed_by_a_survivor(
    stores: tuple[RedisPresenceStore, RedisPresenceStore],
) -> None:
    """B stops beating: A's sweep removes B's connections and reports only users who left."""
    a, b = stores
    await a.add(APP, ROOM, SocketId("1.1"), member(BOB, "a"))
    await b.add(APP, ROOM, SocketId("2.1"), member(BOB, "b"))
    await b.add(APP, ROOM, SocketId("2.2"), member(ALICE, "b"))
    await b.add(APP, ROOM, SocketId("2.3"), member(ALICE, "b"))
    assert await a.peers() == ["node-a", "node-b"]
    assert await a.dead_nodes() == []
    await b.close()  # no more beats: B's key expires after 0.4 s

    peers: list[str] = []

    async def b_gone() -> None:
        while "node-b" in peers or not peers:
            peers[:] = await a.peers()
            await asyncio.sleep(0.05)

    await asyncio.wait_for(b_gone(), TIMEOUT)
    assert await a.dead_nodes() == ["node-b"]
    # Two survivors reap B at once: each user is reported once in total.
    first, second = await asyncio.gather(a.remove_node("node-b"), b.remove_node("node-b"))
    assert first + second == [(APP, ROOM, ALICE)]
    assert await a.members(APP, ROOM) == {BOB: {"name": BOB}}
    assert await a.dead_nodes() == []  # forgotten once reaped


class LivenessRecorder:
    """A ``LivenessHandler`` that records what the heartbeat task reports."""

    def __init__(self) -> None:
        self.dead: asyncio.Queue[str] = asyncio.Queue()
        self.lapsed = asyncio.Event()

    def local_counts(self) -> dict[tuple[AppId, ChannelName], int]:
        return {(APP, NEWS): 2}

    async def peer_died(self, node_id: str) -> None:
        await self.dead.put(node_id)

    async def heartbeat_lapsed(self) -> None:
        self.lapsed.set()


async def test_heartbeat_reports_dead_peers_and_counts(redis_url: str, prefix: str) -> None:
    """The heartbeat task stores the handler's counts and calls ``peer_died`` for a dead peer."""
    survivor = RedisPresenceStore(
        redis_url, node_id="node-a", prefix=prefix, heartbeat_ttl=1.0, heartbeat_interval=0.1
    )
    doomed = RedisPresenceStore(
        redis_url, node_id="node-b", prefix=prefix, heartbeat_ttl=0.3, heartbeat_interval=0.1
    )
    recorder = LivenessRecorder()
    try:
        await doomed.start(LivenessRecorder())
        assert await survivor.cluster_counts(APP) == {NEWS: 2}
        await doomed.add(APP, ROOM, SocketId("2.1"), member(ALICE, "b"))
        await doomed.close()
        await survivor.start(recorder)
        assert await asyncio.wait_for(recorder.dead.get(), TIMEOUT) == "node-b"
        assert await survivor.remove_node("node-b") == [(APP, ROOM, ALICE)]
        assert await survivor.count(APP, ROOM) == 0
        assert not recorder.lapsed.is_set()
    finally:
        await survivor.close()
        await doomed.close()


async def test_clean_shutdown_removes_own_members(
    stores: tuple[RedisPresenceStore, RedisPresenceStore],
) -> None:
    """``remove_node`` of oneself reports the users who left and forgets the node."""
    a, b = stores
    await b.add(APP, ROOM, SocketId("2.1"), member(ALICE, "b"))
    assert await b.remove_node("node-b") == [(APP, ROOM, ALICE)]
    assert await a.count(APP, ROOM) == 0
    assert "node-b" not in await a.peers()


# -- Redis restart -----------------------------------------------------------


async def test_start_without_redis_then_redis_appears(own_redis: RedisServer) -> None:
    """A broker started while Redis is down returns unhealthy, then recovers by itself."""
    own_redis.kill()
    broker = RedisBroker(
        own_redis.url, node_id="node-a", ping_interval=0.1, ping_timeout=0.5, start_timeout=0.3
    )
    on_a = RecordingHandler()
    try:
        await broker.start(on_a)
        assert broker.healthy is False
        await broker.subscribe(APP, NEWS)  # remembered, subscribed once Redis answers
        own_redis.start()
        await asyncio.wait_for(on_a.recovered.wait(), TIMEOUT)
        assert broker.healthy is True
        other = redis.Redis.from_url(own_redis.url)
        try:  # a publication from outside this node arrives: the SUBSCRIBE was replayed
            payload = encode_message(Publication(APP, NEWS, "e", "1"), "x")
            other.publish(channel_key("tidings", "pub", APP, NEWS), payload)
        finally:
            other.close()
        assert [p.data for p in await on_a.wait_for(1)] == ["1"]
    finally:
        await broker.close()


async def test_redis_restart_resumes_delivery(own_redis: RedisServer) -> None:
    """Redis dies: both nodes turn unhealthy, A still serves its own subscribers and holds
    what it publishes; it comes back on the same port: both reconnect, resubscribe, call
    ``broker_recovered``, and B gets A's publications of the outage, in order, then new ones."""
    a = RedisBroker(own_redis.url, node_id="node-a", ping_interval=0.1, ping_timeout=0.5)
    b = RedisBroker(own_redis.url, node_id="node-b", ping_interval=0.1, ping_timeout=0.5)
    on_a, on_b = RecordingHandler(), RecordingHandler()
    try:
        await a.start(on_a)
        await b.start(on_b)
        await a.subscribe(APP, NEWS)
        await b.subscribe(APP, NEWS)
        await a.publish(pub(NEWS, '"before"'))
        await on_b.wait_for(1)

        with structlog.testing.capture_logs() as logs:
            own_redis.kill()
            await eventually(
                lambda: not a.healthy and not b.healthy, TIMEOUT, "both nodes unhealthy"
            )
            for i in range(20):  # local delivery goes on, and is not logged per message
                await a.publish(pub(NEWS, f'"during {i}"'))
            assert len(on_a.received) == 21
            own_redis.start()
            await eventually(lambda: a.healthy and b.healthy, TIMEOUT, "both nodes healthy again")
            await asyncio.wait_for(on_b.recovered.wait(), TIMEOUT)

        events = [entry["event"] for entry in logs]
        assert events.count("redis unreachable; serving local subscribers only") == 2
        assert events.count("redis reachable again; resubscribed") == 2
        await a.publish(pub(NEWS, '"after"'))
        got = await on_b.wait_for(22)
        during = [f'"during {i}"' for i in range(20)]
        assert [p.data for p in got] == ['"before"', *during, '"after"']
    finally:
        await a.close()
        await b.close()


async def test_a_message_sent_twice_is_delivered_once(own_redis: RedisServer) -> None:
    """A batch sent again after a failure that Redis had executed after all: receivers
    drop what they already had from that node (its sequence numbers only grow)."""
    broker = RedisBroker(own_redis.url, node_id="node-a", ping_interval=0.1, ping_timeout=0.5)
    on = RecordingHandler()
    other = redis.Redis.from_url(own_redis.url)
    try:
        await broker.start(on)
        await broker.subscribe(APP, NEWS)
        name = channel_key("tidings", "pub", APP, NEWS)

        def payload(data: str, seq: int) -> bytes:
            return encode_message(Publication(APP, NEWS, "e", data), "node-x", seq)

        for raw in (payload("1", 10), payload("2", 11), payload("1", 10), payload("2", 11)):
            other.publish(name, raw)
        other.publish(name, payload("3", 12))
        assert [p.data for p in await on.wait_for(3)] == ["1", "2", "3"]
    finally:
        other.close()
        await broker.close()
