"""The messages that travel from a publisher to subscribers, on one node or across a cluster.

Every message names an app and a channel and may exclude one connection
(``socket_id``). The hub hands a message to each wire's encoder once and writes
the resulting bytes to every subscriber of that wire; brokers carry messages
between nodes unchanged. None of them is wire text: turning a message into
Pusher or PieSocket frames is the wires' job (``tidings.wires``).

Don't subclass these: they are frozen, slotted and compared by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidings.typing import AppId, ChannelName, NodeId, SocketId, UserId

__all__ = [
    "Control",
    "Member",
    "MemberJoined",
    "MemberLeft",
    "Message",
    "Publication",
    "SubscriptionCount",
    "WatchlistEvent",
]


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
        from_client: sent by a client connection (a Pusher client event or a
            PieSocket client message), not by the app's backend. Wires decide
            from it what their subscribers may see (see
            ``tidings.domain.channels.client_event_allowed``).
        cache: store it as the channel's last event (cache channels), atomically
            with the publish. Set by the node, never by a client.
        serial: its place in the channel's stream, set by the broker that kept
            it (atomically with storing and fanning out); ``None`` otherwise.
        stream_id: the stream ``serial`` counts in.
        published_at_ms: when the broker kept it (Unix milliseconds).
    """

    app_id: AppId
    channel: ChannelName
    event: str
    data: str
    socket_id: SocketId | None = None
    user_id: UserId | None = None
    meta: str | None = None
    from_client: bool = False
    cache: bool = False
    serial: int | None = None
    stream_id: str | None = None
    published_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A presence-channel member: a user id and the ``user_info`` its auth signed.

    ``node_id`` is the node holding the connection (used by cluster brokers).
    """

    user_id: UserId
    info: Any = None
    node_id: NodeId | None = None


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """A user's first connection joined a presence channel (cluster-wide).

    Attributes:
        socket_id: the joining connection, which is not told about itself.
        members: the channel's members as this node knows them after the change,
            filled in by the node just before local delivery (PieSocket frames
            carry the whole list); ``None`` while the message travels.
    """

    app_id: AppId
    channel: ChannelName
    user_id: UserId
    info: Any = None
    socket_id: SocketId | None = None
    members: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """A user's last connection left a presence channel (here, or with a dead node).

    ``members`` is as in :class:`MemberJoined`; ``info`` is the leaving user's
    ``user_info`` as this node knew it, filled in with ``members``.
    """

    app_id: AppId
    channel: ChannelName
    user_id: UserId
    socket_id: SocketId | None = None
    members: Mapping[str, Any] | None = None
    info: Any = None


@dataclass(frozen=True, slots=True)
class SubscriptionCount:
    """A non-presence channel's subscription count changed (cluster-wide figure)."""

    app_id: AppId
    channel: ChannelName
    count: int
    socket_id: SocketId | None = None


@dataclass(frozen=True, slots=True)
class WatchlistEvent:
    """Watched users came online or went offline (Pusher's watchlist events).

    Published to a watched user's internal channel
    (``tidings.domain.channels.watch_channel``) when the user's first signed-in
    connection in the cluster arrived or its last one left, so every watcher on
    every node receives it; the ``online`` snapshot after a sign-in is handed to
    the one connection that signed in.

    Attributes:
        name: ``"online"`` or ``"offline"``.
        user_ids: the users concerned.
    """

    app_id: AppId
    channel: ChannelName
    name: str
    user_ids: tuple[UserId, ...]
    socket_id: SocketId | None = None


Message = Publication | MemberJoined | MemberLeft | SubscriptionCount | WatchlistEvent
"""What the hub delivers to a channel's subscribers and brokers carry between nodes."""


@dataclass(frozen=True, slots=True)
class Control:
    """A node-to-node instruction, delivered to every node (never to clients).

    Attributes:
        command: what to do, e.g. ``"terminate"`` (close a user's connections).
        args: the command's arguments (JSON-serialisable strings).
    """

    command: str
    args: Mapping[str, str]
