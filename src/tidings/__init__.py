"""tidings: a self-hosted real-time WebSocket server, wire-compatible with Pusher and PieSocket.

The public face for embedding (see ``tidings.server.embed``)::

    async with tidings.Server(http_port=0) as server:
        server.on("member_added", print)

Names are imported lazily, so ``import tidings`` (the CLI) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tidings.version import __version__

# Public name -> the module that defines it.
_EXPORTS = {
    "Server": "tidings.server.embed",
    "Settings": "tidings.config",
    "EventBus": "tidings.core.bus",
    "Publication": "tidings.domain.messages",
    "TidingsError": "tidings.errors",
    "CacheMissed": "tidings.domain.events",
    "ChannelOccupied": "tidings.domain.events",
    "ChannelVacated": "tidings.domain.events",
    "ClientEventSent": "tidings.domain.events",
    "ConnectionClosed": "tidings.domain.events",
    "ConnectionOpened": "tidings.domain.events",
    "MemberAdded": "tidings.domain.events",
    "MemberRemoved": "tidings.domain.events",
    "Published": "tidings.domain.events",
    "SignedIn": "tidings.domain.events",
    "UserOffline": "tidings.domain.events",
    "UserOnline": "tidings.domain.events",
    "Subscribed": "tidings.domain.events",
    "SubscriptionCountChanged": "tidings.domain.events",
    "SubscriptionRefused": "tidings.domain.events",
    "Unsubscribed": "tidings.domain.events",
}

__all__ = [
    "CacheMissed",
    "ChannelOccupied",
    "ChannelVacated",
    "ClientEventSent",
    "ConnectionClosed",
    "ConnectionOpened",
    "EventBus",
    "MemberAdded",
    "MemberRemoved",
    "Publication",
    "Published",
    "Server",
    "Settings",
    "SignedIn",
    "UserOffline",
    "UserOnline",
    "Subscribed",
    "SubscriptionCountChanged",
    "SubscriptionRefused",
    "TidingsError",
    "Unsubscribed",
    "__version__",
]

if TYPE_CHECKING:
    from tidings.config import Settings
    from tidings.core.bus import EventBus
    from tidings.domain.events import (
        CacheMissed,
        ChannelOccupied,
        ChannelVacated,
        ClientEventSent,
        ConnectionClosed,
        ConnectionOpened,
        MemberAdded,
        MemberRemoved,
        Published,
        SignedIn,
        Subscribed,
        SubscriptionCountChanged,
        SubscriptionRefused,
        Unsubscribed,
        UserOffline,
        UserOnline,
    )
    from tidings.domain.messages import Publication
    from tidings.errors import TidingsError
    from tidings.server.embed import Server


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tidings' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
