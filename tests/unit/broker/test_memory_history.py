"""MemoryHistory: the bounded rings of the in-memory broker (expiry and the node-wide cap)."""

from __future__ import annotations

from tidings.broker.memory_history import EVENT_OVERHEAD, MemoryHistory
from tidings.domain.history import NO_STREAM, Retention, StreamPosition
from tidings.domain.messages import Publication
from tidings.typing import AppId, ChannelName

APP = AppId("1")
KEEP = Retention(size=10, ttl=60)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pub(channel: str, data: str = '"x"') -> Publication:
    return Publication(APP, ChannelName(channel), "e", data)


def test_the_cap_evicts_the_least_recently_published_channel_first() -> None:
    """Past max_bytes, the quiet channel's oldest events go; positions stay."""
    size = len('"x"') + len("e") + len("a") + EVENT_OVERHEAD
    store = MemoryHistory(max_bytes=size * 4, clock=Clock())
    for _ in range(3):
        store.append(pub("a"), KEEP)
    store.append(pub("b"), KEEP)
    store.append(pub("b"), KEEP)  # one over the cap: "a" (published least recently) pays
    assert store.bytes <= size * 4 and store.evicted == 1
    page = store.read(APP, "a", 0, 10)
    assert [p.serial for p in page.events] == [2, 3] and not page.complete
    assert page.position.serial == 3
    assert [p.serial for p in store.read(APP, "b", 0, 10).events] == [1, 2]


def test_events_expire_after_ttl_positions_after_a_day() -> None:
    """Lazy expiry: events go after ttl, the position after POSITION_TTL."""
    clock = Clock()
    store = MemoryHistory(clock=clock)
    first = store.append(pub("a"), KEEP)
    clock.now += 61
    page = store.read(APP, "a", 0, 10)
    assert page.events == () and page.position.serial == 1 and store.bytes == 0
    clock.now += 86_400
    assert store.read(APP, "a", 0, 10).position == StreamPosition(0, NO_STREAM)
    again = store.append(pub("a"), KEEP)
    assert again.serial == 1 and again.stream_id != first.stream_id


def test_the_kept_object_is_the_one_fanned_out() -> None:
    """The ring holds the publication it returns (data shared, not copied)."""
    store = MemoryHistory(clock=Clock())
    data = '"' + "y" * 1000 + '"'
    sent = store.append(pub("a", data), KEEP)
    (kept,) = store.read(APP, "a", 0, 10).events
    assert kept is sent and kept.data is data
    assert store.channel_stats(APP, "a") == (StreamPosition(1, sent.stream_id or ""), 1)
