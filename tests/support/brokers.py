"""``broker_pair``: two Redis brokers in one process, for tests of what crosses nodes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest

from tests.support.recording import RecordingHandler
from tidings.broker.redis import RedisBroker

__all__ = ["BrokerPair", "broker_pair"]


class BrokerPair(NamedTuple):
    """Brokers "node-a" and "node-b", started, and the handlers recording what each delivers."""

    a: RedisBroker
    b: RedisBroker
    on_a: RecordingHandler
    on_b: RecordingHandler


@pytest.fixture
async def broker_pair(redis_url: str) -> AsyncIterator[BrokerPair]:
    """Two started brokers sharing the session's Redis under a key prefix of this test
    only; both closed after the test (closing one again is harmless)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    a = RedisBroker(redis_url, node_id="node-a", prefix=prefix)
    b = RedisBroker(redis_url, node_id="node-b", prefix=prefix)
    on_a, on_b = RecordingHandler(), RecordingHandler()
    try:
        await a.start(on_a)
        await b.start(on_b)
        yield BrokerPair(a, b, on_a, on_b)
    finally:
        await a.close()
        await b.close()
