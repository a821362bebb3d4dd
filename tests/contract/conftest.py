"""Factories for the contract suites: one entry per implementation of each seam.

Every test in ``test_broker.py`` / ``test_presence.py`` runs once per entry of
``BROKER_FACTORIES`` / ``PRESENCE_FACTORIES``. Adding an implementation is an
import plus one entry per dict, for example::

    from tidings.broker.redis import RedisBroker, RedisPresenceStore
    "redis": lambda request: redis_broker(request, lambda url: RedisBroker(url)),
    "redis": lambda request: redis_presence(request, lambda url: RedisPresenceStore(url)),

A factory takes pytest's ``request`` (so only Redis entries ask for the
``redis_url`` fixture) and returns an async context manager that yields the
implementation unstarted and closes it on exit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from tests.contract.harness import (
    BrokerFactory,
    BrokerHarness,
    PresenceFactory,
    memory_broker,
    memory_presence,
    redis_broker,
    redis_presence,
)
from tidings.broker.base import PresenceStore
from tidings.broker.redis import RedisBroker, RedisPresenceStore

_PREFIX = pytest.StashKey[str]()


def _redis_prefix(request: pytest.FixtureRequest) -> str:
    """One key namespace per test (shared by its nodes), so tests never see each other's keys."""
    prefix: str = request.node.stash.setdefault(_PREFIX, f"test-{uuid.uuid4().hex[:12]}")
    return prefix


BROKER_FACTORIES: dict[str, BrokerFactory] = {
    "memory": memory_broker,
    "redis": lambda request: redis_broker(
        request,
        lambda url: RedisBroker(
            url, node_id=f"n-{uuid.uuid4().hex[:8]}", prefix=_redis_prefix(request)
        ),
        key_match=f"{_redis_prefix(request)}:*",
    ),
    "redis-sharded": lambda request: redis_broker(
        request,
        lambda url: RedisBroker(
            url, node_id=f"n-{uuid.uuid4().hex[:8]}", prefix=_redis_prefix(request)
        ),
        key_match=f"{_redis_prefix(request)}:*",
        url_fixture="redis_shards_url",
    ),
    "redis-cluster": lambda request: redis_broker(
        request,
        lambda url: RedisBroker(
            url, node_id=f"n-{uuid.uuid4().hex[:8]}", prefix=_redis_prefix(request)
        ),
        key_match=f"{_redis_prefix(request)}:*",
        url_fixture="redis_cluster_url",
    ),
}
PRESENCE_FACTORIES: dict[str, PresenceFactory] = {
    "memory": memory_presence,
    "redis": lambda request: redis_presence(
        request,
        lambda url: RedisPresenceStore(
            url, node_id=f"n-{uuid.uuid4().hex[:8]}", prefix=_redis_prefix(request)
        ),
    ),
    "redis-sharded": lambda request: redis_presence(
        request,
        lambda url: RedisPresenceStore(
            url, node_id=f"n-{uuid.uuid4().hex[:8]}", prefix=_redis_prefix(request)
        ),
        url_fixture="redis_shards_url",
    ),
    "redis-cluster": lambda request: redis_presence(
        request,
        lambda url: RedisPresenceStore(
            url, node_id=f"n-{uuid.uuid4().hex[:8]}", prefix=_redis_prefix(request)
        ),
        url_fixture="redis_cluster_url",
    ),
}


@pytest.fixture(params=sorted(BROKER_FACTORIES))
def broker_factory(
    request: pytest.FixtureRequest,
) -> Callable[[], AbstractAsyncContextManager[BrokerHarness]]:
    """Each broker implementation in turn: call it (several times for several nodes)."""
    factory = BROKER_FACTORIES[request.param]
    return lambda: factory(request)


@pytest.fixture(params=sorted(PRESENCE_FACTORIES))
def presence_factory(
    request: pytest.FixtureRequest,
) -> Callable[[], AbstractAsyncContextManager[PresenceStore]]:
    """Each presence store implementation in turn."""
    factory = PRESENCE_FACTORIES[request.param]
    return lambda: factory(request)


@pytest.fixture
async def harness(
    broker_factory: Callable[[], AbstractAsyncContextManager[BrokerHarness]],
) -> AsyncIterator[BrokerHarness]:
    """One broker of the current implementation, unstarted, closed after the test."""
    async with broker_factory() as made:
        yield made


@pytest.fixture
async def presence(
    presence_factory: Callable[[], AbstractAsyncContextManager[PresenceStore]],
) -> AsyncIterator[PresenceStore]:
    """One presence store of the current implementation."""
    async with presence_factory() as store:
        yield store
