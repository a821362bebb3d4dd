"""Value types that cross the core/broker seam.

Don't subclass these: they are frozen, slotted and compared by value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from tidings.typing import AppId, ChannelName, NodeId, SocketId, UserId

__all__ = ["Member", "Publication", "Wire"]


class Wire(enum.Enum):
    """The wire protocol a connection speaks; the hub encodes once per wire."""

    PUSHER = "pusher"
    PIESOCKET = "piesocket"


@dataclass(frozen=True, slots=True)
class Publication:
    """One event for one channel of one app.

    Attributes:
        data: the JSON text of the event's data value, placed verbatim in the
            wire frame. Events from the HTTP API carry a JSON string here
            (``'"hello"'``); client events may carry any JSON value.
        socket_id: the connection that must not receive it (the sender of a
            client event, or the ``socket_id`` of an HTTP publish).
        user_id: set on client events sent on presence channels.
        meta: the JSON text of PieSocket's ``meta`` object, when one came with it.
    """

    app_id: AppId
    channel: ChannelName
    event: str
    data: str
    socket_id: SocketId | None = None
    user_id: UserId | None = None
    meta: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A presence-channel member: a user id and the ``user_info`` its auth signed.

    ``node_id`` is the node holding the connection (used by cluster brokers).
    """

    user_id: UserId
    info: Any = None
    node_id: NodeId | None = None
