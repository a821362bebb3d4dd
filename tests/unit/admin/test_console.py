"""The debug console's queue: one app's events only, bounded, drops counted, gone on close."""

from __future__ import annotations

from tidings.admin.console import MAX_DATA_BYTES, MAX_PENDING, Console, cut_data
from tidings.core.bus import EventBus
from tidings.domain import events
from tidings.typing import AppId, ChannelName, SocketId

APP, OTHER = AppId("1"), AppId("2")


async def test_bounded_with_drops_counted() -> None:
    bus = EventBus()
    console = Console(bus, APP)
    for i in range(MAX_PENDING + 5):
        bus.emit(events.Published(APP, ChannelName("news"), f"e{i}", 2))
    bus.emit(events.Published(OTHER, ChannelName("news"), "not-mine", 2))
    batch = console.take()
    assert len(batch["events"]) == MAX_PENDING
    assert batch["dropped"] == 5
    first = batch["events"][0]
    assert first["type"] == "published" and first["event"] == "e0" and "app_id" not in first
    assert not console.ready.is_set()
    bus.emit(events.Published(APP, ChannelName("news"), "later", 2))
    assert console.ready.is_set()
    later = console.take()
    assert [record["event"] for record in later["events"]] == ["later"]
    assert later["dropped"] == 5  # a running count: the page shows the total


async def test_client_event_data_is_cut_and_close_stops_listening() -> None:
    bus = EventBus()
    console = Console(bus, APP)
    assert bus.wants(events.ClientEventSent)
    data = "x" * (MAX_DATA_BYTES + 10)
    bus.emit(
        events.ClientEventSent(APP, ChannelName("private-a"), "client-e", data, SocketId("1.1"))
    )
    (record,) = console.take()["events"]
    assert record["data"] == "x" * MAX_DATA_BYTES
    assert record["size"] == MAX_DATA_BYTES + 10 and record["truncated"] is True
    console.close()
    assert not bus.wants(events.ClientEventSent)
    assert not bus.wants(events.ConnectionOpened)


async def test_api_publish_shows_the_string_the_backend_sent() -> None:
    bus = EventBus()
    console = Console(bus, APP)
    sent = '"{\\"id\\": 7}"'  # the JSON text of the string {"id": 7}, as the API carries it
    bus.emit(events.Published(APP, ChannelName("orders"), "paid", len(sent), sent))
    bus.emit(events.Published(APP, ChannelName("orders"), "raw", 3, "[1]"))
    paid, raw = console.take()["events"]
    assert paid["data"] == '{"id": 7}' and paid["size"] == 9 and "truncated" not in paid
    assert raw["data"] == "[1]" and raw["size"] == 3


def test_cut_data_counts_utf8_bytes_and_never_splits_a_character() -> None:
    assert cut_data("héllo") == ("héllo", 6, False)
    text = "x" * (MAX_DATA_BYTES - 1) + "é" + "tail"
    shown, size, cut = cut_data(text)
    assert (shown, size, cut) == ("x" * (MAX_DATA_BYTES - 1), MAX_DATA_BYTES + 5, True)
    assert cut_data("y" * MAX_DATA_BYTES) == ("y" * MAX_DATA_BYTES, MAX_DATA_BYTES, False)
