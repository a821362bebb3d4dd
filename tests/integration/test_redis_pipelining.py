"""The Redis broker's send and receive paths: pipelining, close, and what a node decodes."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio

from tests.integration.conftest import BrokerPair
from tidings.broker.redis import RedisBroker
from tidings.broker.redis_codec import decode_message, encode_message, origin_prefix
from tidings.domain.messages import Control, Publication
from tidings.typing import AppId, ChannelName

pytestmark = pytest.mark.redis

APP = AppId("1")
NEWS, SPORT = ChannelName("news"), ChannelName("sport")


def pub(channel: ChannelName, data: str) -> Publication:
    return Publication(app_id=APP, channel=channel, event="update", data=data)


def count_pipelines(monkeypatch: pytest.MonkeyPatch, broker: RedisBroker) -> list[int]:
    """Record the number of commands of every pipeline ``broker`` executes."""
    sizes: list[int] = []
    client = broker._links[0].redis
    assert isinstance(client, redis.asyncio.Redis)  # one Redis, not a Cluster
    make = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def counted(*a: Any, **k: Any) -> Any:
            sizes.append(len(pipe.command_stack))
            return await execute(*a, **k)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe

    monkeypatch.setattr(client, "pipeline", pipeline)
    return sizes


async def test_publishes_of_one_iteration_share_a_pipeline_in_order(
    broker_pair: BrokerPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 publishes without a suspension in between are queued before the writer runs:
    they go in two pipelines (256 + 44), and B gets each channel's in publish order."""
    a, b, _, on_b = broker_pair
    await b.subscribe(APP, NEWS)
    await b.subscribe(APP, SPORT)
    sizes = count_pipelines(monkeypatch, a)
    sent = [pub(NEWS if i % 3 else SPORT, str(i)) for i in range(300)]
    for p in sent:
        await a.publish(p)  # returns without waiting for Redis
    assert sizes == []  # nothing sent yet: the writer runs after this iteration
    got = await on_b.wait_for(300)
    assert sizes == [256, 44]
    for channel in (NEWS, SPORT):
        assert [p for p in got if p.channel == channel] == [p for p in sent if p.channel == channel]


async def test_a_cache_publication_returns_once_stored(
    broker_pair: BrokerPair,
) -> None:
    """Behind queued publications, a cache publication still returns only once stored."""
    a, b, _, _ = broker_pair
    cache = ChannelName("cache-score")
    for i in range(100):
        await a.publish(pub(NEWS, str(i)))
    score = Publication(APP, cache, "update", '"1-0"', cache=True)
    await a.publish(score)
    assert await b.last_event(APP, cache) == score
    await a._links[0].redis.delete(a._cache_key(APP, cache))


async def test_close_sends_what_is_queued(broker_pair: BrokerPair) -> None:
    """Publications queued right before ``close`` still reach the other nodes."""
    a, b, _, on_b = broker_pair
    await b.subscribe(APP, NEWS)
    sent = [pub(NEWS, str(i)) for i in range(50)]
    for p in sent:
        await a.publish(p)
    await a.close()
    assert await on_b.wait_for(50) == sent


async def test_a_node_decodes_only_what_its_subscribers_need(
    broker_pair: BrokerPair, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """Redis sends a channel only to nodes that subscribed it (one SUBSCRIBE per channel,
    no pattern), and a node skips the echo of its own publications without decoding it."""
    decoded: list[bytes] = []
    decode = decode_message

    def counting(raw: bytes) -> Any:
        decoded.append(raw)
        return decode(raw)

    monkeypatch.setattr("tidings.broker.redis_reader.decode_message", counting)  # read per call
    a, b, on_a, _ = broker_pair
    await a.subscribe(APP, NEWS)  # only A has subscribers, only on NEWS
    client = redis.Redis.from_url(redis_url)
    try:
        counts = dict(client.pubsub_numsub(a._channel(APP, NEWS), a._channel(APP, SPORT)))
        assert list(counts.values()) == [1, 0]
        assert client.pubsub_numpat() == 0
    finally:
        client.close()
    for i in range(20):
        await a.publish(pub(NEWS, str(i)))  # A's own: delivered at once, echo not decoded
        await b.publish(pub(SPORT, str(i)))  # nobody subscribed: received by no node
    fence = pub(NEWS, '"fence"')
    await b.publish(fence)  # behind all of A's echoes on A's pub/sub connection
    got = await on_a.wait_for(21)
    assert got[-1] == fence and len(got) == 21
    assert [raw.startswith(origin_prefix("node-b")) for raw in decoded] == [True]


def test_origin_prefix_starts_every_payload_of_that_node_only() -> None:
    for node in ("node-a", 'we"ird\\id', "node-é"):
        for message in (pub(NEWS, '"x"'), Control("terminate", {"user_id": "u"})):
            raw = encode_message(message, node, 7)
            assert raw.startswith(origin_prefix(node))
            assert not raw.startswith(origin_prefix(node + "x"))
            assert not raw.startswith(origin_prefix(node[:-1]))


def test_redis_replies_are_parsed_by_hiredis() -> None:
    """The ``redis`` extra installs hiredis: redis-py's pure-Python parser costs a node
    about 1.6 times the CPU per message (the extra's pin in pyproject.toml)."""
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE
