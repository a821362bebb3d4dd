"""The connection registry: by app and by signed-in user, cleaned on removal."""

from __future__ import annotations

import pytest

from tests.unit.core.conftest import APP, FakeConnection
from tidings.core.registry import ConnectionRegistry
from tidings.errors import ConnectionRejected
from tidings.typing import SocketId, UserId


def test_removal_cleans_the_user_index() -> None:
    """A signed-in connection that closes is gone from the user index (no scan, no leftovers)."""
    registry = ConnectionRegistry()
    one, two = FakeConnection(SocketId("1.1")), FakeConnection(SocketId("1.2"))
    for conn in (one, two):
        registry.add(conn)
        registry.sign_in(conn, UserId("ann"))
    assert registry.of_user(APP.id, UserId("ann")) == [one, two]
    registry.remove(one)
    assert registry.of_user(APP.id, UserId("ann")) == [two]
    registry.remove(two)
    assert registry.of_user(APP.id, UserId("ann")) == []
    assert registry.signed_in_users() == 0 and registry.count(APP.id) == 0
    registry.remove(two)  # unknown: ignored


def test_limit_refuses_with_4004() -> None:
    registry = ConnectionRegistry()
    registry.add(FakeConnection(SocketId("1.1")), limit=1)
    with pytest.raises(ConnectionRejected) as refused:
        registry.add(FakeConnection(SocketId("1.2")), limit=1)
    assert refused.value.pusher_code == 4004
    assert registry.count(APP.id) == 1
