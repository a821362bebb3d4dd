"""The hub: one encoding per wire and message, the same bytes to every subscriber."""

from __future__ import annotations

from tests.unit.core.conftest import FakeConnection
from tidings.core.hub import Hub
from tidings.domain.messages import Message, Publication, SubscriptionCount
from tidings.typing import AppId, ChannelName, SocketId

APP_ID, NEWS = AppId("1"), ChannelName("news")


class CountingEncoder:
    """Encodes events as their data; counts its calls. ``None`` for counts."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, message: Message) -> bytes | None:
        self.calls += 1
        return message.data.encode() if isinstance(message, Publication) else None


def test_each_encoding_encodes_once_and_shares_the_bytes() -> None:
    """Three subscribers over two encodings: two encoder calls, one bytes object per encoding."""
    a, b = CountingEncoder(), CountingEncoder()
    hub = Hub({"a": a, "b": b})
    subs = [
        FakeConnection(SocketId("1.1"), encoding="a"),
        FakeConnection(SocketId("1.2"), encoding="a"),
        FakeConnection(SocketId("1.3"), encoding="b"),
    ]
    for sub in subs:
        hub.add(APP_ID, NEWS, sub)
    assert hub.deliver(Publication(APP_ID, NEWS, "e", "x")) == 3
    assert (a.calls, b.calls) == (1, 1)
    assert subs[0].frames[0] is subs[1].frames[0]


def test_excluded_socket_and_unshown_messages_are_not_counted() -> None:
    """``socket_id`` is skipped; an encoder's ``None`` sends nothing and counts nothing."""
    hub = Hub({"test": CountingEncoder()})
    one, two = FakeConnection(SocketId("1.1")), FakeConnection(SocketId("1.2"))
    hub.add(APP_ID, NEWS, one)
    hub.add(APP_ID, NEWS, two)
    assert hub.deliver(Publication(APP_ID, NEWS, "e", "x", socket_id=one.socket_id)) == 1
    assert (one.frames, two.frames) == ([], [b"x"])
    assert hub.deliver(SubscriptionCount(APP_ID, NEWS, 2)) == 0
    assert two.frames == [b"x"]


def test_first_and_last_subscriber_transitions() -> None:
    """``add`` is True for the first subscriber, ``remove`` for the last, across encodings."""
    hub = Hub({"a": CountingEncoder(), "b": CountingEncoder()})
    x, y = (
        FakeConnection(SocketId("1.1"), encoding="a"),
        FakeConnection(SocketId("1.2"), encoding="b"),
    )
    assert hub.add(APP_ID, NEWS, x) is True
    assert hub.add(APP_ID, NEWS, y) is False
    assert hub.count(APP_ID, NEWS) == 2 and hub.channels(APP_ID) == {NEWS: 2}
    assert hub.remove(APP_ID, NEWS, x) is False
    assert hub.remove(APP_ID, NEWS, x) is False  # twice: nothing to remove
    assert hub.remove(APP_ID, NEWS, y) is True
    assert hub.channels(APP_ID) == {} and hub.all_counts() == {}
