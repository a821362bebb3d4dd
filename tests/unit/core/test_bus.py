"""The event bus: listeners by type or name, in order, isolated from each other's errors."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from tidings.core.bus import EventBus
from tidings.domain.events import EVENT_TYPES, ChannelOccupied, MemberAdded
from tidings.typing import AppId, ChannelName, UserId

OCCUPIED = ChannelOccupied(AppId("1"), ChannelName("news"))


def test_listeners_by_type_and_name_run_in_order() -> None:
    bus = EventBus()
    seen: list[tuple[str, Any]] = []
    bus.on(ChannelOccupied, lambda e: seen.append(("type", e)))
    bus.on("channel_occupied", lambda e: seen.append(("name", e)))
    bus.emit(OCCUPIED)
    bus.emit(MemberAdded(AppId("1"), ChannelName("presence-r"), UserId("u")))  # nobody listens
    assert seen == [("type", OCCUPIED), ("name", OCCUPIED)]


def test_wants_and_remove() -> None:
    bus = EventBus()
    assert not bus.wants(ChannelOccupied)
    seen: list[object] = []
    remove = bus.on("channel_occupied", seen.append)
    assert bus.wants(ChannelOccupied) and not bus.wants(MemberAdded)
    remove()
    bus.emit(OCCUPIED)
    assert seen == [] and not bus.wants(ChannelOccupied)


def test_a_raising_listener_is_logged_and_the_others_still_run() -> None:
    bus = EventBus()
    seen: list[object] = []

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    bus.on(ChannelOccupied, broken)
    bus.on(ChannelOccupied, seen.append)
    with structlog.testing.capture_logs() as logs:
        bus.emit(OCCUPIED)
    assert seen == [OCCUPIED]
    assert [entry["event"] for entry in logs] == ["event listener raised"]


def test_unknown_event_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="member_added"):
        EventBus().on("member_joined", print)


def test_every_event_type_is_named_once() -> None:
    assert len(EVENT_TYPES) == 18
    assert all(cls.name == name for name, cls in EVENT_TYPES.items())
