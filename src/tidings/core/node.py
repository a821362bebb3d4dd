"""The node: hub + broker + presence store + app store, and the rules that join them.

The node is what the I/O shells (WebSocket endpoints, HTTP API) call. It owns
the ordering rules of subscribe / unsubscribe / presence, and it is the
``BrokerEventHandler`` every broker delivers to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson
import structlog

from tidings.apps.base import App, AppStore
from tidings.broker.base import Broker, BrokerEventHandler, ClusterPresence, PresenceStore
from tidings.core.cluster import CONTROL_APP, CONTROL_CHANNEL, ClusterLink
from tidings.core.counts import CountAnnouncer
from tidings.core.hub import Hub, Subscriber
from tidings.core.model import Member, Publication
from tidings.errors import ConnectionRejected, SubscriptionError, TidingsError
from tidings.protocol.channels import is_cache_channel
from tidings.protocol.pusher.codec import (
    member_added_data,
    member_removed_data,
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
_T = TypeVar("_T")

log = structlog.get_logger(__name__)


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
        self._counts = CountAnnouncer(self.subscription_count, self.publish)
        # This node's presence members, to add again after the store lost them.
        self._local_members: dict[_Key, dict[SocketId, Member]] = {}
        # Presence removals the store refused (unreachable): retried by resync_presence.
        self._failed_removals: set[tuple[AppId, ChannelName, SocketId, UserId]] = set()
        self.cluster = ClusterLink(self) if isinstance(presence, ClusterPresence) else None

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Start the broker with this node as its handler, and the cluster link if any."""
        await self.broker.start(self)
        await self.broker.subscribe(CONTROL_APP, CONTROL_CHANNEL)
        if self.cluster is not None:
            await self.cluster.start()

    async def close(self) -> None:
        """Stop the cluster link and the broker. Connections are closed before this."""
        self._counts.close()
        if self.cluster is not None:
            await self.cluster.close()
        await self.broker.close()

    def handle_publication(self, pub: Publication) -> None:
        """Broker callback: fan ``pub`` out to this node's subscribers."""
        if pub.app_id == CONTROL_APP:
            self._control(pub)
            return
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

    async def peers(self) -> list[str]:
        """Live node ids seen through heartbeats (just this one without a cluster).

        An unreachable store yields this node alone rather than an error.
        """
        if self.cluster is None:
            return [self.node_id]
        try:
            return await self.cluster.peers()
        except TidingsError:
            return [self.node_id]

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
        """Close every connection signed in as ``user_id``, on every node, with 4009.

        4009 is what Pusher and Soketi use. The request travels as a control
        publication, so each node closes its own connections.

        Returns:
            How many connections this node closed.
        """
        local = len(self.user_connections(app_id, user_id))
        data = orjson.dumps({"app_id": app_id, "user_id": user_id}).decode()
        await self.publish(Publication(CONTROL_APP, CONTROL_CHANNEL, "terminate", data))
        return local

    def _control(self, pub: Publication) -> None:
        if pub.event == "terminate":
            target = orjson.loads(pub.data)
            for conn in self.user_connections(AppId(target["app_id"]), UserId(target["user_id"])):
                conn.close(TERMINATE_CODE, TERMINATE_REASON)

    async def resync_presence(self) -> None:
        """Add this node's presence members to the store again (after it lost them).

        A user the store had dropped (peers saw this node as dead) is announced
        with ``member_added`` again. Removals that failed while the store was
        unreachable are retried first, with ``member_removed`` for a user's last.
        """
        for removal in list(self._failed_removals):
            app_id, channel, socket_id, user_id = removal
            last = await self.presence.remove(app_id, channel, socket_id, user_id)
            self._failed_removals.discard(removal)
            if last:
                await self.members_gone([(app_id, channel, user_id)])
        for (app_id, channel), members in list(self._local_members.items()):
            for socket_id, member in list(members.items()):
                if await self.presence.add(app_id, channel, socket_id, member):
                    data = member_added_data(member.user_id, member.info)
                    await self.publish(
                        Publication(app_id, channel, "pusher_internal:member_added", data)
                    )

    async def members_gone(self, gone: Iterable[tuple[AppId, ChannelName, UserId]]) -> None:
        """Announce users whose last connection left (here, or on a dead node)."""
        for app_id, channel, user_id in gone:
            data = member_removed_data(user_id)
            await self.publish(Publication(app_id, channel, "pusher_internal:member_removed", data))

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
            added = await self._join_presence(conn, channel, member)
        if not already:
            await self._hub_add(app.id, channel, conn)
            if member is None:
                self._counts.changed(app, channel)
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
            result_members = dict(
                (await self._presence_call(self.presence.members(app.id, channel))).items()
            )
        if is_cache_channel(channel):
            cached = await self.broker.last_event(app.id, channel)
            return SubscribeResult(result_members, cached, cache_miss=cached is None)
        return SubscribeResult(result_members)

    async def _join_presence(self, conn: Connection, channel: ChannelName, member: Member) -> bool:
        app = conn.app
        members = await self._presence_call(self.presence.members(app.id, channel))
        if member.user_id not in members and len(members) >= app.max_presence_members:
            raise SubscriptionError(
                f"presence channel {channel} is full ({app.max_presence_members} members)",
                kind="LimitReached",
                status=4100,
            )
        added = await self._presence_call(
            self.presence.add(app.id, channel, conn.socket_id, member)
        )
        self._local_members.setdefault((app.id, channel), {})[conn.socket_id] = member
        return added

    async def _presence_call(self, call: Awaitable[_T]) -> _T:
        """Await a presence-store call; an unreachable store refuses the subscription."""
        try:
            return await call
        except SubscriptionError:
            raise
        except TidingsError as exc:
            raise SubscriptionError(
                f"presence is unavailable right now: {exc.message}",
                kind="ServiceUnavailable",
                status=503,
            ) from exc

    async def unsubscribe(
        self, conn: Connection, channel: ChannelName, user_id: str | None = None
    ) -> None:
        """Take ``conn`` off ``channel``; ``member_removed`` when a user's last one left."""
        app_id = conn.app.id
        was_subscribed = self.hub.is_subscribed(app_id, channel, conn)
        if self.hub.remove(app_id, channel, conn):
            await self.broker.unsubscribe(app_id, channel)
        if was_subscribed and user_id is None:
            self._counts.changed(conn.app, channel)
        if user_id is not None:
            await self._leave_presence(conn, channel, UserId(user_id))

    async def _leave_presence(self, conn: Connection, channel: ChannelName, uid: UserId) -> None:
        app_id = conn.app.id
        key = (app_id, channel)
        local = self._local_members.get(key)
        if local is not None and local.pop(conn.socket_id, None) is not None and not local:
            del self._local_members[key]
        try:
            last = await self.presence.remove(app_id, channel, conn.socket_id, uid)
        except TidingsError as exc:
            # The store is unreachable: resync_presence retries it when Redis
            # is back. Logged once per outage, not once per leaving member.
            if not self._failed_removals:
                log.warning("presence remove failed; retried later", reason=exc.message)
            self._failed_removals.add((app_id, channel, conn.socket_id, uid))
            return
        if last:
            await self.members_gone([(app_id, channel, uid)])

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
        """Occupied channels with their subscription counts, cluster-wide.

        Other nodes' counts come from their last heartbeat (a few seconds old).
        """
        counts = self.hub.channels(app_id)
        if self.cluster is not None:
            for channel, count in (await self.cluster.remote_counts(app_id)).items():
                counts[channel] = counts.get(channel, 0) + count
        return counts

    async def subscription_count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many connections are on ``channel``, cluster-wide."""
        count = self.hub.count(app_id, channel)
        if self.cluster is not None:
            count += (await self.cluster.remote_counts(app_id)).get(channel, 0)
        return count

    async def user_count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on a presence channel."""
        return await self.presence.count(app_id, channel)

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """The members of a presence channel."""
        return await self.presence.members(app_id, channel)


if TYPE_CHECKING:
    _handler: type[BrokerEventHandler] = Node
