"""Harnesses for the contract suites: what each implementation's factory yields.

``BrokerHarness`` wraps a broker with the one thing the suite cannot do through
the Protocol (age cache events). ``redis_broker`` / ``redis_presence`` adapt a
Redis implementation to the session's ``redis_url`` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import pytest

from tests.support.recording import RecordingHandler as RecordingHandler
from tidings.broker.base import Broker, PresenceStore
from tidings.broker.memory import CACHE_TTL_SECONDS, MemoryBroker, MemoryPresenceStore

__all__ = [
    "BrokerFactory",
    "BrokerHarness",
    "FakeClock",
    "PresenceFactory",
    "RecordingHandler",
    "age_redis_keys",
    "memory_broker",
    "memory_presence",
    "redis_broker",
    "redis_presence",
]


@dataclass(slots=True)
class BrokerHarness:
    """A broker under test plus the one thing the suite cannot do through the Protocol.

    Attributes:
        broker: the implementation, not started yet.
        cache_ttl: seconds it keeps a cache channel's last event.
        age_cache: make every stored cache event ``seconds`` older.
    """

    broker: Broker
    cache_ttl: float
    age_cache: Callable[[float], Awaitable[None]]


BrokerFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[BrokerHarness]]
PresenceFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[PresenceStore]]


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def memory_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerHarness]:
    """A ``MemoryBroker`` on a fake clock."""
    clock = FakeClock()

    async def age(seconds: float) -> None:
        clock.now += seconds

    broker = MemoryBroker(clock=clock)
    try:
        yield BrokerHarness(broker, CACHE_TTL_SECONDS, age)
    finally:
        await broker.close()


@asynccontextmanager
async def memory_presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    """A fresh ``MemoryPresenceStore``."""
    yield MemoryPresenceStore()


async def age_redis_keys(url: str, seconds: float, *, match: str = "*") -> None:
    """Shorten the TTL of every key matching ``match`` by ``seconds`` (deleting those it ends).

    Redis keeps time itself, so this is how a Redis harness "ages" cache events.
    """
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=match):
            ttl_ms = await client.pttl(key)
            if ttl_ms < 0:  # no TTL (-1) or gone (-2)
                continue
            left = ttl_ms - int(seconds * 1000)
            if left <= 0:
                await client.delete(key)
            else:
                await client.pexpire(key, left)
    finally:
        await client.aclose()


def _servers(url: str) -> list[str]:
    """A plain URL of every Redis server behind a broker URL (shards, or a Cluster's seeds)."""
    if url.startswith("redis+cluster://"):
        return [f"redis://{seed}/0" for seed in url.removeprefix("redis+cluster://").split(",")]
    return url.split(",")


@asynccontextmanager
async def redis_broker(
    request: pytest.FixtureRequest,
    make: Callable[[str], Broker],
    *,
    cache_ttl: float = CACHE_TTL_SECONDS,
    key_match: str = "*",
    url_fixture: str = "redis_url",
) -> AsyncIterator[BrokerHarness]:
    """A Redis-backed broker on the session's Redis (or shards: ``url_fixture``), aged with
    ``age_redis_keys`` on every server of the URL."""
    url: str = request.getfixturevalue(url_fixture)

    async def age(seconds: float) -> None:
        for server in _servers(url):
            await age_redis_keys(server, seconds, match=key_match)

    broker = make(url)
    try:
        yield BrokerHarness(broker, cache_ttl, age)
    finally:
        await broker.close()


@asynccontextmanager
async def redis_presence(
    request: pytest.FixtureRequest,
    make: Callable[[str], PresenceStore],
    *,
    url_fixture: str = "redis_url",
) -> AsyncIterator[PresenceStore]:
    """A Redis-backed presence store on the session's Redis (or shards: ``url_fixture``),
    closed on exit if it can be."""
    store = make(request.getfixturevalue(url_fixture))
    try:
        yield store
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            await close()
