"""The history half of the ``Broker`` contract (DESIGN.md 8.1), over every implementation.

A ``Publication`` with ``keep`` gets the channel's next serial and its stream id,
atomically with storing and fanning out; ``history`` reads what is kept.
"""

from __future__ import annotations

from dataclasses import replace

from tests.contract.harness import BrokerHarness, RecordingHandler
from tidings.domain.history import NO_STREAM, Retention, StreamPosition, is_stream_id
from tidings.domain.messages import Publication
from tidings.typing import AppId, ChannelName, SocketId

APP = AppId("1")
CHAT = ChannelName("chat")
OTHER = ChannelName("other")
KEEP = Retention(size=5, ttl=120)


def kept(n: int, channel: ChannelName = CHAT) -> Publication:
    return Publication(APP, channel, "msg", f'"m{n}"')


async def started(harness: BrokerHarness, *channels: ChannelName) -> RecordingHandler:
    handler = RecordingHandler()
    await harness.broker.start(handler)
    for channel in channels or (CHAT,):
        await harness.broker.subscribe(APP, channel)
    return handler


async def test_serials_count_from_one_on_one_stream_and_travel_with_the_event(
    harness: BrokerHarness,
) -> None:
    """Each kept publication is delivered with serial n, the same stream id, in order."""
    handler = await started(harness)
    for n in range(1, 4):
        await harness.broker.publish(kept(n), keep=KEEP)
    got = await handler.wait_for(3)
    assert [p.serial for p in got] == [1, 2, 3]
    assert [p.data for p in got] == ['"m1"', '"m2"', '"m3"']
    stream = got[0].stream_id
    assert is_stream_id(stream) and stream != NO_STREAM
    assert all(p.stream_id == stream for p in got)
    assert all(isinstance(p.published_at_ms, int) and p.published_at_ms > 0 for p in got)
    page = await harness.broker.history(APP, CHAT, 0, 100)
    assert page.position == StreamPosition(3, stream)
    assert page.complete and [(p.serial, p.data) for p in page.events] == [
        (1, '"m1"'),
        (2, '"m2"'),
        (3, '"m3"'),
    ]
    assert page.events[0].published_at_ms == got[0].published_at_ms


async def test_history_reads_after_a_serial_with_a_limit(harness: BrokerHarness) -> None:
    """after_serial and limit pick a window; limit 0 gives the position only."""
    handler = await started(harness)
    for n in range(1, 5):
        await harness.broker.publish(kept(n), keep=KEEP)
    await handler.wait_for(4)
    page = await harness.broker.history(APP, CHAT, 1, 2)
    assert [p.serial for p in page.events] == [2, 3] and page.complete
    assert page.position.serial == 4
    head = await harness.broker.history(APP, CHAT, 0, 0)
    assert head.events == () and head.position == page.position
    assert (await harness.broker.history(APP, CHAT, 4, 10)).events == ()
    assert (await harness.broker.history(APP, CHAT, 4, 10)).complete


async def test_only_the_last_size_events_are_kept(harness: BrokerHarness) -> None:
    """history_size bounds the stream; a read from before it says it is not complete."""
    handler = await started(harness)
    for n in range(1, 9):
        await harness.broker.publish(kept(n), keep=KEEP)
    await handler.wait_for(8)
    page = await harness.broker.history(APP, CHAT, 0, 100)
    assert [p.serial for p in page.events] == [4, 5, 6, 7, 8]
    assert not page.complete
    assert (await harness.broker.history(APP, CHAT, 2, 100)).complete is False
    from_kept = await harness.broker.history(APP, CHAT, 3, 100)
    assert from_kept.complete and [p.serial for p in from_kept.events] == [4, 5, 6, 7, 8]


async def test_client_events_and_channels_without_keep_get_no_serial(
    harness: BrokerHarness,
) -> None:
    """Client events are never kept, even when marked; plain publications neither."""
    handler = await started(harness)
    client = replace(kept(1), from_client=True, socket_id=SocketId("1.1"))
    await harness.broker.publish(client, keep=KEEP)
    await harness.broker.publish(Publication(APP, CHAT, "plain", '"p"'))
    await harness.broker.publish(kept(2), keep=KEEP)
    got = await handler.wait_for(3)
    assert [p.serial for p in got] == [None, None, 1]
    page = await harness.broker.history(APP, CHAT, 0, 100)
    assert [p.data for p in page.events] == ['"m2"']


async def test_channels_have_their_own_streams(harness: BrokerHarness) -> None:
    """Serials count per channel; a channel without a stream is at (0, NO_STREAM)."""
    handler = await started(harness, CHAT, OTHER)
    await harness.broker.publish(kept(1), keep=KEEP)
    await harness.broker.publish(kept(2, OTHER), keep=KEEP)
    await harness.broker.publish(kept(3), keep=KEEP)
    got = await handler.wait_for(3)
    assert [(p.channel, p.serial) for p in got] == [(CHAT, 1), (OTHER, 1), (CHAT, 2)]
    assert got[0].stream_id != got[1].stream_id
    empty = await harness.broker.history(APP, ChannelName("never"), 0, 10)
    assert empty.position == StreamPosition(0, NO_STREAM) and empty.complete


async def test_events_expire_after_ttl_and_the_position_stays(harness: BrokerHarness) -> None:
    """After history_ttl the events are gone; serials go on in the same stream."""
    handler = await started(harness)
    short = Retention(size=5, ttl=10)
    await harness.broker.publish(kept(1), keep=short)
    await harness.broker.publish(kept(2), keep=short)
    first = await handler.wait_for(2)
    await harness.age_cache(11)
    page = await harness.broker.history(APP, CHAT, 0, 10)
    assert page.events == () and not page.complete
    assert page.position == StreamPosition(2, first[0].stream_id or "")
    await harness.broker.publish(kept(3), keep=short)
    (third,) = (await handler.wait_for(3))[2:]
    assert third.serial == 3 and third.stream_id == first[0].stream_id
