"""The Redis webhook store's atomic parts, against a real Redis: occupancy crossings and
the takeover of a dead node (two survivors racing: only one gets it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from tests.support.redis import delete_redis_keys
from tidings.webhooks.delivery import Delivery
from tidings.webhooks.redis_store import RedisWebhookStore

StoreFactory = Callable[[str], RedisWebhookStore]


@pytest.fixture(params=["redis_url", "redis_shards_url", "redis_cluster_url"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Stores of nodes sharing one prefix of this test, over one Redis, three shards or a
    Redis Cluster; closed (and, on the shared Redis, cleaned up) afterwards."""
    redis_url: str = request.getfixturevalue(request.param)
    prefix = f"test-whs-{uuid.uuid4().hex[:8]}"
    made: list[RedisWebhookStore] = []

    def make(node_id: str) -> RedisWebhookStore:
        store = RedisWebhookStore(redis_url, node_id=node_id, prefix=prefix, ttl=1.0, log_size=3)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()
    if request.param == "redis_url":  # the others are this session's own servers
        delete_redis_keys(redis_url, prefix)


def delivery(n: int) -> Delivery:
    return Delivery(f"d{n}", "1", "http://h/", ({"name": "cache_miss", "channel": "c"},), 1.0)


async def test_occupancy_crosses_once_for_the_cluster(stores: StoreFactory) -> None:
    """Only the first node in and the last node out cross 0<->1; a repeat is no change."""
    a, b = stores("a"), stores("b")
    assert await a.occupancy([("occupied", "1", "room")]) == [True]
    assert await b.occupancy([("occupied", "1", "room"), ("occupied", "1", "room")]) == [
        False,
        False,
    ]
    assert await a.occupancy([("vacated", "1", "room")]) == [False]
    assert await b.occupancy([("vacated", "1", "room"), ("vacated", "1", "room")]) == [
        True,
        False,
    ]


async def test_two_survivors_reap_a_dead_node_once(stores: StoreFactory) -> None:
    """The dead node's deliveries and its sole occupancy go to exactly one survivor."""
    dead, b, c = stores("dead"), stores("b"), stores("c")
    # The survivors are live nodes: whichever takes the deliveries is an owner that beats.
    await asyncio.gather(dead.beat(), b.beat(), c.beat())
    await dead.put([delivery(1), delivery(2)])
    await dead.occupancy([("occupied", "1", "only-dead"), ("occupied", "1", "shared")])
    await b.occupancy([("occupied", "1", "shared")])
    assert await b.reap("dead") == ([], [])  # still beating: left alone
    await dead.leave()
    assert await b.dead_owners() == ["dead"]
    (moved_b, vacated_b), (moved_c, vacated_c) = await asyncio.gather(
        b.reap("dead"), c.reap("dead")
    )
    moved = moved_b + moved_c
    assert sorted(d.id for d in moved) == ["d1", "d2"]
    assert not (moved_b and moved_c)
    assert vacated_b + vacated_c == [("1", "only-dead")]
    assert await b.dead_owners() == []
    taker = b if moved_b else c
    held, _ = await taker.reap(taker.node_id, force=True)  # a restart of the taker finds them
    assert sorted(d.id for d in held) == ["d1", "d2"]


async def test_log_keeps_the_newest_and_updates_in_place(stores: StoreFactory) -> None:
    """The log keeps log_size deliveries per app, newest first; updates replace, and a
    delivery trimmed out stays out."""
    store = stores("a")
    await store.put([delivery(n) for n in range(5)])
    assert [d.id for d in await store.recent("1", 10)] == ["d4", "d3", "d2"]
    sent = Delivery(**{**delivery(3).record(), "events": (), "attempts": 1, "status": "sent"})
    await store.put([sent, Delivery(**{**delivery(0).record(), "attempts": 1, "events": ()})])
    assert [(d.id, d.status) for d in await store.recent("1", 10)] == [
        ("d4", "pending"),
        ("d3", "sent"),
        ("d2", "pending"),
    ]
    assert await store.get("1", "d0") is None
