"""The ``Broker`` contract, run over every implementation in ``BROKER_FACTORIES``.

Written against the Protocol only. "Not delivered" is proven with a barrier:
after the publication that must not arrive, a sentinel is published on a
subscribed channel and awaited; one node's publications reach it in publish
order (synchronous in memory, one connection in Redis).
"""

from __future__ import annotations

import pytest

from tests.contract.harness import BrokerHarness, RecordingHandler
from tidings.domain.messages import (
    Control,
    MemberJoined,
    MemberLeft,
    Publication,
    SubscriptionCount,
    WatchlistEvent,
)
from tidings.typing import AppId, ChannelName, SocketId, UserId

APP = AppId("1")
OTHER_APP = AppId("2")
NEWS = ChannelName("news")
SPORT = ChannelName("sport")
BARRIER = ChannelName("barrier")
CACHE = ChannelName("cache-scores")


def pub(
    channel: ChannelName, data: str = '"x"', *, app_id: AppId = APP, cache: bool = False
) -> Publication:
    return Publication(app_id=app_id, channel=channel, event="update", data=data, cache=cache)


async def started(harness: BrokerHarness) -> RecordingHandler:
    handler = RecordingHandler()
    await harness.broker.start(handler)
    await harness.broker.subscribe(APP, BARRIER)
    return handler


async def received_before_barrier(harness: BrokerHarness, handler: RecordingHandler) -> list[str]:
    """Publish a barrier and wait for it; return the channels that arrived before it."""
    already = len(handler.received)
    sentinel = pub(BARRIER, '"barrier"')
    await harness.broker.publish(sentinel)
    got = await handler.wait_for(already + 1)
    while got[-1] != sentinel:  # the barrier may be overtaken only by earlier publishes
        got = await handler.wait_for(len(got) + 1)
    return [p.channel for p in got if p != sentinel]


async def test_every_message_kind_arrives_as_sent(harness: BrokerHarness) -> None:
    """Member changes and counts travel as typed values, unchanged, in publish order."""
    handler = await started(harness)
    room = ChannelName("presence-room")
    await harness.broker.subscribe(APP, room)
    joined = MemberJoined(APP, room, UserId("u1"), {"name": "Ann"}, SocketId("1.2"))
    left = MemberLeft(APP, room, UserId("u1"))
    count = SubscriptionCount(APP, room, 7)
    watch = ChannelName("#tidings-watch-u1")
    await harness.broker.subscribe(APP, watch)
    online = WatchlistEvent(APP, watch, "online", (UserId("u1"),))
    await harness.broker.publish(joined)
    await harness.broker.publish(left)
    await harness.broker.publish(count)
    await harness.broker.publish(online)
    assert await handler.wait_for(4) == [joined, left, count, online]


async def test_control_reaches_this_node(harness: BrokerHarness) -> None:
    """A control goes to ``handle_control`` (every node's; here this one), never to subscribers."""
    handler = await started(harness)
    control = Control("terminate", {"app_id": "1", "user_id": "u1"})
    await harness.broker.publish_control(control)
    assert handler.controls == [control]
    assert await received_before_barrier(harness, handler) == []


async def test_publish_reaches_handler_for_subscribed_channel(harness: BrokerHarness) -> None:
    """A publication on a subscribed channel reaches the handler unchanged."""
    handler = await started(harness)
    await harness.broker.subscribe(APP, NEWS)
    sent = Publication(
        app_id=APP,
        channel=NEWS,
        event="update",
        data='{"a":1}',
        socket_id=SocketId("1.2"),
        user_id=UserId("u1"),
        meta='{"m":true}',
    )
    await harness.broker.publish(sent)
    assert await handler.wait_for(1) == [sent]


async def test_publish_skips_unsubscribed_channel(harness: BrokerHarness) -> None:
    """Nothing arrives for a channel this node never subscribed to."""
    handler = await started(harness)
    await harness.broker.publish(pub(NEWS))
    assert await received_before_barrier(harness, handler) == []


async def test_unsubscribe_stops_delivery(harness: BrokerHarness) -> None:
    """After unsubscribe the channel's publications no longer arrive."""
    handler = await started(harness)
    await harness.broker.subscribe(APP, NEWS)
    await harness.broker.publish(pub(NEWS, '"before"'))
    await handler.wait_for(1)
    await harness.broker.unsubscribe(APP, NEWS)
    await harness.broker.publish(pub(NEWS, '"after"'))
    assert await received_before_barrier(harness, handler) == [NEWS]
    assert [p.data for p in handler.received if p.channel == NEWS] == ['"before"']


async def test_unsubscribe_of_unknown_channel_is_harmless(harness: BrokerHarness) -> None:
    """Unsubscribing a channel never subscribed raises nothing and changes nothing."""
    handler = await started(harness)
    await harness.broker.subscribe(APP, NEWS)
    await harness.broker.unsubscribe(APP, SPORT)
    await harness.broker.publish(pub(NEWS))
    assert [p.channel for p in await handler.wait_for(1)] == [NEWS]


async def test_order_preserved_per_channel(harness: BrokerHarness) -> None:
    """Publications on one channel arrive in publish order, interleaved with another channel."""
    handler = await started(harness)
    await harness.broker.subscribe(APP, NEWS)
    await harness.broker.subscribe(APP, SPORT)
    for i in range(50):
        await harness.broker.publish(pub(NEWS, str(i)))
        await harness.broker.publish(pub(SPORT, str(-i)))
    got = await handler.wait_for(100)
    assert [p.data for p in got if p.channel == NEWS] == [str(i) for i in range(50)]
    assert [p.data for p in got if p.channel == SPORT] == [str(-i) for i in range(50)]


async def test_apps_are_isolated(harness: BrokerHarness) -> None:
    """The same channel name in another app is another channel."""
    handler = await started(harness)
    await harness.broker.subscribe(OTHER_APP, NEWS)
    await harness.broker.publish(pub(NEWS, '"app 1"'))
    await harness.broker.publish(pub(NEWS, '"app 2"', app_id=OTHER_APP))
    assert await received_before_barrier(harness, handler) == [NEWS]
    assert [(p.app_id, p.data) for p in handler.received if p.channel == NEWS] == [
        (OTHER_APP, '"app 2"')
    ]


async def test_cache_channel_keeps_last_event(harness: BrokerHarness) -> None:
    """A cache channel's last publication is stored, even with no subscriber on this node."""
    await started(harness)
    await harness.broker.publish(pub(CACHE, '"first"', cache=True))
    await harness.broker.publish(pub(CACHE, '"second"', cache=True))
    assert await harness.broker.last_event(APP, CACHE) == pub(CACHE, '"second"', cache=True)


async def test_cached_gives_the_last_event_and_its_remaining_ttl(harness: BrokerHarness) -> None:
    """``cached`` (Pusher's info=cache): the event and the seconds it is still kept."""
    await started(harness)
    assert await harness.broker.cached(APP, CACHE) is None
    await harness.broker.publish(pub(CACHE, '"kept"', cache=True))
    await harness.age_cache(60)
    entry = await harness.broker.cached(APP, CACHE)
    assert entry is not None
    event, ttl = entry
    assert event.data == '"kept"'
    assert harness.cache_ttl - 61 <= ttl <= harness.cache_ttl - 59


async def test_cache_miss(harness: BrokerHarness) -> None:
    """No last event: never published, another app, or a publication not marked ``cache``.

    Brokers do not read channel names: the node decides what is cached (a client's
    message on a ``cache-`` channel is never stored).
    """
    await started(harness)
    assert await harness.broker.last_event(APP, CACHE) is None
    await harness.broker.publish(pub(CACHE, cache=True))
    await harness.broker.publish(pub(NEWS))
    assert await harness.broker.last_event(OTHER_APP, CACHE) is None
    assert await harness.broker.last_event(APP, NEWS) is None
    other = ChannelName("cache-other")
    await harness.broker.publish(pub(other, '"not marked"'))
    assert await harness.broker.last_event(APP, other) is None


async def test_cache_event_expires_after_ttl(harness: BrokerHarness) -> None:
    """The last event lives for the cache TTL (Pusher: 30 minutes), then it is a miss."""
    await started(harness)
    await harness.broker.publish(pub(CACHE, '"old"', cache=True))
    await harness.age_cache(harness.cache_ttl - 60)
    assert await harness.broker.last_event(APP, CACHE) == pub(CACHE, '"old"', cache=True)
    await harness.age_cache(120)
    assert await harness.broker.last_event(APP, CACHE) is None


async def test_new_cache_event_restarts_ttl(harness: BrokerHarness) -> None:
    """Each publish stores a fresh last event with a full TTL."""
    await started(harness)
    await harness.broker.publish(pub(CACHE, '"old"', cache=True))
    await harness.age_cache(harness.cache_ttl - 60)
    await harness.broker.publish(pub(CACHE, '"new"', cache=True))
    await harness.age_cache(120)
    assert await harness.broker.last_event(APP, CACHE) == pub(CACHE, '"new"', cache=True)


async def test_healthy_only_while_started(harness: BrokerHarness) -> None:
    """Not healthy before ``start``; healthy once started against a reachable backend;
    not healthy after ``close``."""
    assert harness.broker.healthy is False
    await started(harness)
    assert harness.broker.healthy is True
    await harness.broker.close()
    assert harness.broker.healthy is False


async def test_close_is_idempotent_and_final(harness: BrokerHarness) -> None:
    """Closing twice raises nothing; a closed broker refuses to publish and delivers nothing."""
    handler = await started(harness)
    await harness.broker.subscribe(APP, NEWS)
    await harness.broker.close()
    await harness.broker.close()
    with pytest.raises(RuntimeError, match="start"):
        await harness.broker.publish(pub(NEWS))
    assert handler.received == []
