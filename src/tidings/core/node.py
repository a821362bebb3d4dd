"""The node: hub + broker + presence store + app store, and the rules that join them.

The node is what the I/O shells (WebSocket endpoints, HTTP API) call. It owns
the ordering rules of subscribe / unsubscribe / presence, and it is the
``BrokerEventHandler`` every broker delivers to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tidings.apps.base import App, AppStore
from tidings.broker.base import Broker, BrokerEventHandler, PresenceStore
from tidings.core.hub import Hub, Subscriber
from tidings.core.model import Member, Publication
from tidings.errors import ConnectionRejected, SubscriptionError
from tidings.protocol.channels import ChannelKind, channel_kind, is_cache_channel
from tidings.protocol.pusher.codec import (
    member_added_data,
    member_removed_data,
    subscription_count_data,
)
from tidings.typing import AppId, ChannelName, NodeId, SocketId, UserId

__all__ = ["TERMINATE_CODE", "TERMINATE_REASON", "Connection", "Node", "SubscribeResult"]

# 4009 is in Pusher's 4000-4099 "do not reconnect" range, so a terminated
# client stays away; Soketi and Sockudo use the same code and reason.
TERMINATE_CODE = 4009
TERMINATE_REASON = "You got disconnected by the app."


class Connection(Subscriber, Protocol):
    """A client connection as the node sees it, whatever its wire protocol."""

    @property
    def app(self) -> App: ...

    def close(self, code: int, reason: str) -> None:
        """Send a last error with ``code``/``reason`` and close. Must not block or raise."""


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """What a successful subscribe hands back to the shell.

    Attributes:
        members: user id → user_info on presence channels, else ``None``.
        cached: a cache channel's last event, if any.
        cache_miss: ``True`` on a cache channel without a last event.
    """

    members: dict[str, Any] | None = None
    cached: Publication | None = None
    cache_miss: bool = False


_Key = tuple[AppId, ChannelName]

# Subscription-count changes within this many seconds go out as one event, so
# a thousand clients joining at once cost one broadcast, not a thousand.
SUBSCRIPTION_COUNT_DELAY = 0.25


@dataclass(slots=True)
class NodeStats:
    """Running totals, read by the metrics endpoint (counted per publication, not per frame)."""

    publications: int = 0
    deliveries: int = 0


class Node:
    """One tidings process.

    Args:
        node_id: this process's id in a cluster.
        apps: where apps are looked up.
        broker: cross-node fan-out (memory for one process).
        presence: presence membership (memory for one process).
        hub: the local subscriber index with its per-wire encoders.
    """

    def __init__(
        self,
        *,
        node_id: NodeId,
        apps: AppStore,
        broker: Broker,
        presence: PresenceStore,
        hub: Hub,
    ) -> None:
        self.node_id = node_id
        self.apps = apps
        self.broker = broker
        self.presence = presence
        self.hub = hub
        self._connections: dict[AppId, dict[SocketId, Connection]] = {}
        self._users: dict[tuple[AppId, UserId], dict[SocketId, Connection]] = {}
        self._broker_subscribing: dict[_Key, asyncio.Future[None]] = {}
        self.stats = NodeStats()
        self._counts_due: set[_Key] = set()
        self._closed = False
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Start the broker with this node as its event handler."""
        await self.broker.start(self)

    async def close(self) -> None:
        """Stop the broker. Connections are closed by the server before this."""
        self._closed = True
        for task in list(self._background):
            task.cancel()
        await self.broker.close()

    def handle_publication(self, pub: Publication) -> None:
        """Broker callback: fan ``pub`` out to this node's subscribers."""
        stats = self.stats
        stats.publications += 1
        stats.deliveries += self.hub.deliver(pub)

    # -- connections -----------------------------------------------------

    def attach(self, conn: Connection) -> None:
        """Register a new connection.

        Raises:
            ConnectionRejected: 4004 when the app is at its connection quota.
        """
        app = conn.app
        conns = self._connections.setdefault(app.id, {})
        if app.max_connections is not None and len(conns) >= app.max_connections:
            raise ConnectionRejected(
                f"app {app.id} is over its connection quota ({app.max_connections})",
                code=4004,
                hint="raise max_connections for this app",
            )
        conns[conn.socket_id] = conn

    async def detach(self, conn: Connection, channels: Mapping[str, str | None]) -> None:
        """Forget a closed connection and leave every channel it was on.

        Args:
            channels: channel → presence user id, as the session tracked them.
        """
        app_id = conn.app.id
        conns = self._connections.get(app_id)
        if conns is not None:
            conns.pop(conn.socket_id, None)
            if not conns:
                del self._connections[app_id]
        for user_key, user_conns in list(self._users.items()):
            if user_key[0] == app_id and user_conns.pop(conn.socket_id, None) is not None:
                if not user_conns:
                    del self._users[user_key]
        for channel, user_id in channels.items():
            await self.unsubscribe(conn, ChannelName(channel), user_id)

    def connections(self, app_id: AppId | None = None) -> list[Connection]:
        """Local connections, of one app or of all."""
        if app_id is not None:
            return list(self._connections.get(app_id, {}).values())
        return [c for conns in self._connections.values() for c in conns.values()]

    def connection_count(self, app_id: AppId) -> int:
        """How many local connections ``app_id`` has."""
        return len(self._connections.get(app_id, ()))

    def sign_in(self, conn: Connection, user_id: UserId) -> None:
        """Record that ``conn`` authenticated as ``user_id`` (``pusher:signin``)."""
        self._users.setdefault((conn.app.id, user_id), {})[conn.socket_id] = conn

    def user_connections(self, app_id: AppId, user_id: UserId) -> list[Connection]:
        """The local connections signed in as ``user_id``."""
        return list(self._users.get((app_id, user_id), {}).values())

    async def terminate_user_connections(self, app_id: AppId, user_id: UserId) -> int:
        """Close every connection signed in as ``user_id`` with 4009, as Pusher and Soketi do.

        This is the one place a cluster-wide terminate is added: today it
        reaches this node's connections only.

        Returns:
            How many local connections were closed.
        """
        conns = self.user_connections(app_id, user_id)
        for conn in conns:
            conn.close(TERMINATE_CODE, TERMINATE_REASON)
        return len(conns)

    # -- channels ----------------------------------------------------------

    async def publish(self, pub: Publication) -> None:
        """Publish through the broker to every node, this one included."""
        await self.broker.publish(pub)

    async def subscribe(
        self, conn: Connection, channel: ChannelName, member: Member | None = None
    ) -> SubscribeResult:
        """Put ``conn`` on ``channel``; idempotent for a connection already on it.

        Presence: the member is recorded first, then ``member_added`` goes to
        the other subscribers only when the user was not already present.

        Raises:
            SubscriptionError: ``LimitReached`` when a presence channel is full.
        """
        app = conn.app
        already = self.hub.is_subscribed(app.id, channel, conn)
        added = False
        if member is not None and not already:
            members = await self.presence.members(app.id, channel)
            if member.user_id not in members and len(members) >= app.max_presence_members:
                raise SubscriptionError(
                    f"presence channel {channel} is full ({app.max_presence_members} members)",
                    kind="LimitReached",
                    status=4100,
                )
            added = await self.presence.add(app.id, channel, conn.socket_id, member)
        if not already:
            await self._hub_add(app.id, channel, conn)
            if member is None:
                self._count_changed(app, channel)
        if added and member is not None:
            await self.publish(
                Publication(
                    app.id,
                    channel,
                    "pusher_internal:member_added",
                    member_added_data(member.user_id, member.info),
                    socket_id=conn.socket_id,
                )
            )
        result_members: dict[str, Any] | None = None
        if member is not None:
            result_members = dict((await self.presence.members(app.id, channel)).items())
        if is_cache_channel(channel):
            cached = await self.broker.last_event(app.id, channel)
            return SubscribeResult(result_members, cached, cache_miss=cached is None)
        return SubscribeResult(result_members)

    async def unsubscribe(
        self, conn: Connection, channel: ChannelName, user_id: str | None = None
    ) -> None:
        """Take ``conn`` off ``channel``; ``member_removed`` when a user's last one left."""
        app_id = conn.app.id
        was_subscribed = self.hub.is_subscribed(app_id, channel, conn)
        if self.hub.remove(app_id, channel, conn):
            await self.broker.unsubscribe(app_id, channel)
        if was_subscribed and user_id is None:
            self._count_changed(conn.app, channel)
        if user_id is not None and channel_kind(channel) is ChannelKind.PRESENCE:
            uid = UserId(user_id)
            if await self.presence.remove(app_id, channel, conn.socket_id, uid):
                await self.publish(
                    Publication(
                        app_id, channel, "pusher_internal:member_removed", member_removed_data(uid)
                    )
                )

    def _count_changed(self, app: App, channel: ChannelName) -> None:
        # Pusher sends counts for non-presence channels only, when the app asks.
        if not app.enable_subscription_count:
            return
        key = (app.id, channel)
        if key not in self._counts_due:
            self._counts_due.add(key)
            asyncio.get_running_loop().call_later(SUBSCRIPTION_COUNT_DELAY, self._start_count, key)

    async def _send_count(self, key: _Key) -> None:
        self._counts_due.discard(key)
        app_id, channel = key
        count = await self.subscription_count(app_id, channel)
        if count:
            data = subscription_count_data(count)
            await self.publish(
                Publication(app_id, channel, "pusher_internal:subscription_count", data)
            )

    def _start_count(self, key: _Key) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._send_count(key))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _hub_add(self, app_id: AppId, channel: ChannelName, conn: Connection) -> None:
        # The first local subscriber makes the broker listen; later ones wait
        # until it does, so nobody is told "subscribed" before events can flow.
        key = (app_id, channel)
        if self.hub.add(app_id, channel, conn):
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._broker_subscribing[key] = done
            try:
                await self.broker.subscribe(app_id, channel)
            finally:
                del self._broker_subscribing[key]
                done.set_result(None)
        else:
            pending = self._broker_subscribing.get(key)
            if pending is not None:
                await pending

    # -- queries (HTTP API) --------------------------------------------------

    async def channels(self, app_id: AppId) -> dict[ChannelName, int]:
        """Occupied channels with their subscription counts."""
        return self.hub.channels(app_id)

    async def subscription_count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many connections are on ``channel``."""
        return self.hub.count(app_id, channel)

    async def user_count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on a presence channel."""
        return await self.presence.count(app_id, channel)

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """The members of a presence channel."""
        return await self.presence.members(app_id, channel)


if TYPE_CHECKING:
    _handler: type[BrokerEventHandler] = Node
