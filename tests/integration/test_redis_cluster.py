"""The Redis Cluster engine follows the topology: a channel whose slot moves to another
master is subscribed there, and publications reach it again, in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from tests.support.recording import RecordingHandler
from tidings.broker.redis import RedisBroker
from tidings.broker.redis_keys import channel_key
from tidings.domain.messages import Publication
from tidings.typing import AppId, ChannelName

pytestmark = pytest.mark.redis

APP = AppId("1")


def masters(url: str) -> list[redis.Redis]:
    seeds = url.removeprefix("redis+cluster://").split(",")
    return [redis.Redis.from_url(f"redis://{seed}/0", decode_responses=True) for seed in seeds]


def _cmd(node: redis.Redis, *args: object) -> Any:
    """One CLUSTER command (redis-py leaves execute_command untyped)."""
    return node.execute_command(*args)  # type: ignore[no-untyped-call]


def _owns(node: redis.Redis, slot: int) -> bool:
    ranges = _ranges(node, _cmd(node, "CLUSTER MYID"))
    return any(lo <= slot <= hi for lo, hi in ranges)


def move_slot(nodes: list[redis.Redis], slot: int, to: redis.Redis) -> redis.Redis:
    """Give ``slot`` (holding no key) to ``to``; returns its previous owner."""
    ids = {node: _cmd(node, "CLUSTER MYID") for node in nodes}
    owner = next(n for n in nodes if _owns(n, slot))
    _cmd(to, "CLUSTER SETSLOT", slot, "IMPORTING", ids[owner])
    _cmd(owner, "CLUSTER SETSLOT", slot, "MIGRATING", ids[to])
    for node in nodes:
        _cmd(node, "CLUSTER SETSLOT", slot, "NODE", ids[to])
    return owner


def _ranges(node: redis.Redis, node_id: str) -> list[tuple[int, int]]:
    shards = _cmd(node, "CLUSTER SLOTS")
    return [(int(r[0]), int(r[1])) for r in shards if r[2][2] == node_id]


@pytest.fixture
def cluster_nodes(redis_cluster_url: str) -> Iterator[list[redis.Redis]]:
    nodes = masters(redis_cluster_url)
    yield nodes
    for node in nodes:
        node.close()


async def test_a_channel_whose_slot_moves_is_followed(
    redis_cluster_url: str, cluster_nodes: list[redis.Redis]
) -> None:
    """Node B subscribes a channel; its slot moves to another master (Redis sends B a
    sunsubscribe): B subscribes it there, A's SPUBLISH follows the MOVED answer, and B
    gets A's publications again, in order. The slot goes back afterwards."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    news = ChannelName("news")
    slot = key_slot(channel_key(prefix, "pub", APP, news).encode())
    a = RedisBroker(redis_cluster_url, node_id="a", prefix=prefix, ping_interval=0.2)
    b = RedisBroker(redis_cluster_url, node_id="b", prefix=prefix, ping_interval=0.2)
    on_b = RecordingHandler()
    owner: redis.Redis | None = None
    try:
        await a.start(RecordingHandler())
        await b.start(on_b)
        await b.subscribe(APP, news)
        await a.publish(Publication(APP, news, "e", '"before"'))
        assert [p.data for p in await on_b.wait_for(1)] == ['"before"']

        target = next(n for n in cluster_nodes if not _owns(n, slot))
        owner = move_slot(cluster_nodes, slot, target)

        # Pub/sub is at most once while B moves its subscription: probe until one arrives.
        for i in range(100):
            await a.publish(Publication(APP, news, "probe", str(i)))
            try:
                await on_b.wait_for(2, timeout=0.1)
                break
            except pytest.fail.Exception:
                continue
        else:
            pytest.fail("B never received a publication after the slot moved")
        seen = len(on_b.received)
        for i in range(20):
            await a.publish(Publication(APP, news, "after", str(i)))
        got = await on_b.wait_for(seen + 20)
        assert [p.data for p in got[seen:]] == [str(i) for i in range(20)]
    finally:
        await a.close()
        await b.close()
        if owner is not None:
            move_slot(cluster_nodes, slot, owner)
