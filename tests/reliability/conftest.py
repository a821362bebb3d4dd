"""The reliability suite: faults and garbage against real servers, each outcome asserted.

Every test here carries the ``reliability`` marker. ``make test`` runs the short
versions; ``make reliability`` sets ``TIDINGS_RELIABILITY_LONG=1`` for the long
ones (20-round churn, soak).
"""

from __future__ import annotations

import os

import pytest

from tests.support.pusher import connect as connect
from tests.support.pusher import open_client as open_client
from tests.support.pusher import server as server
from tests.support.pusher import server_factory as server_factory

LONG = os.environ.get("TIDINGS_RELIABILITY_LONG", "") not in ("", "0")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.reliability)
