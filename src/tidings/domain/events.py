"""Lifecycle events: what happened in the core, for listeners on the event bus.

The node emits each event once, when it happens, never once per subscriber
(``tidings.core.bus``). Listeners (webhooks, metrics, the debug console, an
embedding application) observe them; none can change what the core does.

Two scopes, stated per event:

- *local*: about this node only (its connections, its channels' local 0<->1
  transitions);
- *cluster*: emitted by exactly one node for the whole cluster (the node that
  saw a user's first or last connection, or the survivor that removed a dead
  node's members).

Don't subclass these: listeners are found by exact type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = [
    "EVENT_TYPES",
    "ApiRequestRefused",
    "CacheMissed",
    "ChannelOccupied",
    "ChannelVacated",
    "ClientEventSent",
    "ConnectionClosed",
    "ConnectionOpened",
    "ErrorSent",
    "Event",
    "MemberAdded",
    "MemberRemoved",
    "Published",
    "SignedIn",
    "SubscriptionCountChanged",
    "Subscribed",
    "SubscriptionRefused",
    "Unsubscribed",
    "UserOffline",
    "UserOnline",
]


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    """A client connection was accepted (local). ``wire`` is ``pusher`` or ``piesocket``."""

    name: ClassVar[str] = "connection_opened"
    app_id: AppId
    socket_id: SocketId
    wire: str
    remote: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """A client connection ended (local); ``code`` is the close code the server sent, if any."""

    name: ClassVar[str] = "connection_closed"
    app_id: AppId
    socket_id: SocketId
    wire: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A connection joined a channel (local)."""

    name: ClassVar[str] = "subscribed"
    app_id: AppId
    channel: ChannelName
    socket_id: SocketId


@dataclass(frozen=True, slots=True)
class SubscriptionRefused:
    """A subscription was refused, with the reason the client was told (local)."""

    name: ClassVar[str] = "subscription_refused"
    app_id: AppId
    channel: ChannelName
    socket_id: SocketId
    reason: str


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """A connection left a channel, or closed while on it (local)."""

    name: ClassVar[str] = "unsubscribed"
    app_id: AppId
    channel: ChannelName
    socket_id: SocketId


@dataclass(frozen=True, slots=True)
class ChannelOccupied:
    """A channel got its first subscriber on this node (local 0 -> 1)."""

    name: ClassVar[str] = "channel_occupied"
    app_id: AppId
    channel: ChannelName


@dataclass(frozen=True, slots=True)
class ChannelVacated:
    """A channel lost its last subscriber on this node (local 1 -> 0)."""

    name: ClassVar[str] = "channel_vacated"
    app_id: AppId
    channel: ChannelName


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """A user's first connection joined a presence channel (cluster, exactly once)."""

    name: ClassVar[str] = "member_added"
    app_id: AppId
    channel: ChannelName
    user_id: UserId
    info: Any = None


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """A user's last connection left a presence channel, or died with its node (cluster)."""

    name: ClassVar[str] = "member_removed"
    app_id: AppId
    channel: ChannelName
    user_id: UserId


@dataclass(frozen=True, slots=True)
class ClientEventSent:
    """A client sent an event that the core relayed (local: the sender's node).

    ``data`` is the JSON text of the event's data; ``user_id`` is set on presence channels.
    """

    name: ClassVar[str] = "client_event"
    app_id: AppId
    channel: ChannelName
    event: str
    data: str
    socket_id: SocketId
    user_id: UserId | None = None


@dataclass(frozen=True, slots=True)
class Published:
    """The app's backend published an event through an API (local: the receiving node).

    ``size`` is the length of the data's JSON text; ``data`` is that text, the
    publication's own string (nothing is copied or encoded for the event). A
    listener that keeps it should bound it (the debug console cuts it at 1 KiB).
    """

    name: ClassVar[str] = "published"
    app_id: AppId
    channel: ChannelName
    event: str
    size: int
    data: str = ""


@dataclass(frozen=True, slots=True)
class CacheMissed:
    """A connection subscribed to a cache channel with no stored event (local)."""

    name: ClassVar[str] = "cache_miss"
    app_id: AppId
    channel: ChannelName
    socket_id: SocketId


@dataclass(frozen=True, slots=True)
class SubscriptionCountChanged:
    """A channel's cluster-wide subscription count was announced (by the node that changed it)."""

    name: ClassVar[str] = "subscription_count"
    app_id: AppId
    channel: ChannelName
    count: int


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A connection authenticated as a user with ``pusher:signin`` (local)."""

    name: ClassVar[str] = "signed_in"
    app_id: AppId
    socket_id: SocketId
    user_id: UserId


@dataclass(frozen=True, slots=True)
class UserOnline:
    """A user's first signed-in connection in the cluster arrived (cluster, exactly once)."""

    name: ClassVar[str] = "user_online"
    app_id: AppId
    user_id: UserId


@dataclass(frozen=True, slots=True)
class UserOffline:
    """A user's last signed-in connection left, here or with a dead node (cluster, exactly once)."""

    name: ClassVar[str] = "user_offline"
    app_id: AppId
    user_id: UserId


@dataclass(frozen=True, slots=True)
class ErrorSent:
    """A connection was told an error (``pusher:error``, a v3 ``{"error"}``) (local).

    ``code`` is the protocol's error code when it has one; ``message`` is what
    the client was told.
    """

    name: ClassVar[str] = "error_sent"
    app_id: AppId
    socket_id: SocketId
    code: int | None
    message: str


@dataclass(frozen=True, slots=True)
class ApiRequestRefused:
    """An HTTP API request was answered with an error status (local: the receiving node).

    ``app_id`` is the id in the URL (``""`` when it has none); ``endpoint`` is the
    route's pattern (``/apps/{app_id}/events``); ``error`` is the answer's message.
    """

    name: ClassVar[str] = "api_request_refused"
    app_id: AppId
    method: str
    endpoint: str
    status: int
    error: str


Event = (
    ConnectionOpened
    | ConnectionClosed
    | Subscribed
    | SubscriptionRefused
    | Unsubscribed
    | ChannelOccupied
    | ChannelVacated
    | MemberAdded
    | MemberRemoved
    | ClientEventSent
    | Published
    | CacheMissed
    | SubscriptionCountChanged
    | SignedIn
    | UserOnline
    | UserOffline
    | ErrorSent
    | ApiRequestRefused
)
"""Every lifecycle event type."""

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.name: cls
    for cls in (
        ConnectionOpened,
        ConnectionClosed,
        Subscribed,
        SubscriptionRefused,
        Unsubscribed,
        ChannelOccupied,
        ChannelVacated,
        MemberAdded,
        MemberRemoved,
        ClientEventSent,
        Published,
        CacheMissed,
        SubscriptionCountChanged,
        SignedIn,
        UserOnline,
        UserOffline,
        ErrorSent,
        ApiRequestRefused,
    )
}
"""Event name (``member_added``) -> event type, for ``bus.on("member_added", ...)``."""
