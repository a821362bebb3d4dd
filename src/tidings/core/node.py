"""The node: hub + broker + presence + app store, and the rules that join them.

The node is what the I/O shells (the WebSocket endpoint, the HTTP API) call.
It owns the ordering rules of subscribe / unsubscribe / presence, it is the
``BrokerHandler`` every broker delivers to, and it emits lifecycle events on
its bus (``node.bus``), once per event, never once per subscriber.

The publish and fan-out path lives here; what the node also answers comes in
through its bases: connections and users (``tidings.core.connections``),
presence announcements (``tidings.core.members``), read-only queries
(``tidings.core.queries``).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tidings.apps.base import App, AppStore
from tidings.broker.base import Broker, BrokerHandler, NodeLiveness, PresenceStore
from tidings.core.bus import EventBus
from tidings.core.cluster import ClusterLink
from tidings.core.connections import TERMINATE_CODE, TERMINATE_REASON, NodeConnections
from tidings.core.counts import CountAnnouncer
from tidings.core.history import HistorySequencer
from tidings.core.hub import Hub, Subscriber
from tidings.core.members import NodeMembers
from tidings.core.presence import PresenceKeeper
from tidings.core.queries import NodeQueries
from tidings.core.recovery import (
    DeliveryMark,
    HeldSubscriber,
    HistoryHold,
    RecoveryStats,
    read_for_subscribe,
)
from tidings.core.registry import Connection, ConnectionRegistry
from tidings.core.users import UserTracker
from tidings.domain import events
from tidings.domain.channels import (
    is_cache_channel,
    is_internal,
)
from tidings.domain.history import Retention, StreamPosition
from tidings.domain.messages import (
    Member,
    MemberJoined,
    MemberLeft,
    Message,
    Publication,
    SubscriptionCount,
)
from tidings.errors import SubscriptionError
from tidings.typing import AppId, ChannelName, NodeId, SocketId, UserId

__all__ = ["TERMINATE_CODE", "TERMINATE_REASON", "Connection", "Node", "SubscribeResult"]


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """What a successful subscribe hands back to the shell.

    Attributes:
        members: user id → user_info on presence channels, else ``None``.
        cached: a cache channel's last event, if any.
        cache_miss: ``True`` on a cache channel without a last event.
        hold: on a channel that keeps history, what the shell must release to
            write the replay, the confirmation and the held frames in order
            (``tidings.core.recovery``); ``None`` elsewhere.
    """

    members: dict[str, Any] | None = None
    cached: Publication | None = None
    cache_miss: bool = False
    hold: HistoryHold | None = None


_Key = tuple[AppId, ChannelName]


@functools.lru_cache(maxsize=1024)
def _retention(app: App) -> Retention:
    """How ``app``'s history channels keep events (one object per app, shared)."""
    return Retention(app.history_size, app.history_ttl)


@dataclass(slots=True)
class NodeStats:
    """Running totals, read by the metrics endpoint (counted per message, not per frame)."""

    publications: int = 0
    deliveries: int = 0


class Node(NodeConnections, NodeMembers, NodeQueries):
    """One tidings process.

    Args:
        node_id: this process's id in a cluster.
        apps: where apps are looked up.
        broker: cross-node fan-out (memory for one process).
        presence: presence membership (memory for one process).
        hub: the local subscriber index with the wires' encoders.
        liveness: node heartbeats and counts in a cluster; ``None`` for one process.
        bus: where lifecycle events go (a new one by default).
    """

    def __init__(
        self,
        *,
        node_id: NodeId,
        apps: AppStore,
        broker: Broker,
        presence: PresenceStore,
        hub: Hub,
        liveness: NodeLiveness | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.node_id = node_id
        self.apps = apps
        self.broker = broker
        self.presence = PresenceKeeper(presence)
        self.hub = hub
        self.bus = bus if bus is not None else EventBus()
        self.registry = ConnectionRegistry()
        self.stats = NodeStats()
        self._broker_subscribing: dict[_Key, asyncio.Future[None]] = {}
        self._mark = DeliveryMark()
        self.sequencer = HistorySequencer(self._deliver_kept, broker.history)
        self.recoveries = RecoveryStats()
        self._counts = CountAnnouncer(self.subscription_count, self._announce_count)
        self.users = UserTracker(
            registry=self.registry,
            presence=self.presence,
            hub=hub,
            publish=broker.publish,
            join=self._join_internal,
            leave=self._leave_internal,
            bus=self.bus,
        )
        self.cluster = (
            ClusterLink(
                node_id=node_id,
                liveness=liveness,
                presence=presence,
                local_counts=self._shared_counts,
                local_connections=self.registry.counts,
                members_gone=self.members_gone,
                resync=self.resync_presence,
            )
            if liveness is not None
            else None
        )

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Start the broker with this node as its handler, and the cluster link if any."""
        await self.broker.start(self)
        if self.cluster is not None:
            await self.cluster.start()

    async def close(self) -> None:
        """Stop the cluster link and the broker. Connections are closed before this."""
        self._counts.close()
        await self.sequencer.close()
        if self.cluster is not None:
            await self.cluster.close()
        await self.broker.close()

    # -- BrokerHandler -----------------------------------------------------

    def handle_message(self, message: Message) -> None:
        """Broker callback: fan ``message`` out to this node's subscribers.

        Kept publications go through the sequencer (serial order, gaps repaired).
        """
        if type(message) is Publication and message.serial is not None:
            self.sequencer.accept(message)
            return
        if isinstance(message, MemberJoined | MemberLeft):
            message = self._with_roster(message)
        stats = self.stats
        stats.publications += 1
        stats.deliveries += self.hub.deliver(message)

    def _deliver_kept(self, pub: Publication) -> None:
        """The sequencer's output: fan a kept publication out, marked with its serial."""
        mark = self._mark
        mark.serial = pub.serial
        stats = self.stats
        stats.publications += 1
        try:
            stats.deliveries += self.hub.deliver(pub)
        finally:
            mark.serial = None

    async def broker_recovered(self) -> None:
        """Broker callback after an outage: the store may have lost members, and
        this node kept publications of its history channels."""
        self.sequencer.catch_up()
        await self.resync_presence()

    # -- channels ----------------------------------------------------------

    async def publish(self, pub: Publication) -> None:
        """Publish an event of the app's backend through the broker to every node.

        On a cache channel the event is also kept as the channel's last one; on
        a channel the app keeps history of, in the channel's history.
        """
        if is_cache_channel(pub.channel) and not pub.cache:
            pub = replace(pub, cache=True)
        keep = None
        app = await self.apps.by_id(pub.app_id)
        if app is not None and app.history_channels and app.keeps_history(pub.channel):
            keep = _retention(app)
        await self.broker.publish(pub, keep=keep)
        bus = self.bus
        if bus.wants(events.Published):
            data = pub.data
            bus.emit(events.Published(pub.app_id, pub.channel, pub.event, len(data), data))

    async def publish_from_client(self, sender: SocketId, pub: Publication) -> None:
        """Relay a message the connection ``sender`` sent (a client event or a v3 message).

        It is marked ``from_client`` (each wire decides what its subscribers may
        see of it) and is never stored as a cache channel's last event, so no
        client can plant what later subscribers receive. ``pub.socket_id`` is
        whom to skip: the sender, or nobody when it asked for an echo.
        """
        if not pub.from_client or pub.cache:
            pub = replace(pub, from_client=True, cache=False)
        await self.broker.publish(pub)
        bus = self.bus
        if bus.wants(events.ClientEventSent):
            bus.emit(
                events.ClientEventSent(
                    pub.app_id, pub.channel, pub.event, pub.data, sender, pub.user_id
                )
            )

    async def subscribe(
        self,
        conn: Connection,
        channel: ChannelName,
        member: Member | None = None,
        position: StreamPosition | None = None,
    ) -> SubscribeResult:
        """Put ``conn`` on ``channel``; idempotent for a connection already on it.

        Presence: the member is recorded first (refused when the channel is
        full), then ``member_added`` goes to the other subscribers only when
        the user was not already present.

        History: on a channel the app keeps history of, live frames for
        ``conn`` are held while the channel's history is read (from
        ``position`` on, when given), and the result's ``hold`` must be
        released by the caller without an ``await`` in between
        (``tidings.core.recovery``).

        Raises:
            SubscriptionError: ``LimitReached`` when a presence channel is full,
                ``ServiceUnavailable`` when presence cannot be reached.
        """
        app = conn.app
        already = self.hub.is_subscribed(app.id, channel, conn)
        added = False
        members: dict[str, Any] | None = None
        try:
            if member is not None:
                if already:
                    members = await self.presence.members(app.id, channel)
                else:
                    added, members = await self.presence.join(
                        app.id, channel, conn.socket_id, member, app.max_presence_members
                    )
        except SubscriptionError as exc:
            self.bus.emit(events.SubscriptionRefused(app.id, channel, conn.socket_id, exc.message))
            raise
        keeps_history = app.keeps_history(channel)
        held: HeldSubscriber | None = None
        if not already:
            if keeps_history:
                held = HeldSubscriber(conn, self._mark)
            await self._hub_add(app.id, channel, held if held is not None else conn)
            if member is None:
                self._counts.changed(app, channel)
            if self.bus.wants(events.Subscribed):
                self.bus.emit(events.Subscribed(app.id, channel, conn.socket_id))
        hold = None
        if keeps_history:
            hold = await self._history_hold(conn, channel, held, position)
        if added and member is not None:
            await self._member_joined(app.id, channel, member, conn.socket_id)
        if is_cache_channel(channel):
            cached = await self.broker.last_event(app.id, channel)
            if cached is None:
                self.bus.emit(events.CacheMissed(app.id, channel, conn.socket_id))
            return SubscribeResult(members, cached, cache_miss=cached is None, hold=hold)
        return SubscribeResult(members, hold=hold)

    async def _history_hold(
        self,
        conn: Connection,
        channel: ChannelName,
        held: HeldSubscriber | None,
        position: StreamPosition | None,
    ) -> HistoryHold:
        """Read the channel's history for the release (``tidings.core.recovery``)."""
        page = await read_for_subscribe(self.broker, conn.app.id, channel, held, position)
        return HistoryHold(
            conn.app.id, channel, conn, self.hub, self.sequencer, self.recoveries, held, page,
            position,
        )  # fmt: skip

    async def unsubscribe(
        self, conn: Connection, channel: ChannelName, user_id: str | None = None
    ) -> None:
        """Take ``conn`` off ``channel``; ``member_removed`` when a user's last one left."""
        app_id = conn.app.id
        if not self.hub.is_subscribed(app_id, channel, conn):
            if user_id is not None:  # refused or still joining: presence may hold it
                await self._leave_presence(conn, channel, UserId(user_id))
            return
        if self.hub.remove(app_id, channel, conn):
            self.presence.forget_roster(app_id, channel)
            self.sequencer.forget(app_id, channel)
            if (app_id, channel) not in self._broker_subscribing:
                await self.broker.unsubscribe(app_id, channel)
            if self.bus.wants(events.ChannelVacated):
                self.bus.emit(events.ChannelVacated(app_id, channel))
        if user_id is None:
            self._counts.changed(conn.app, channel)
        if self.bus.wants(events.Unsubscribed):
            self.bus.emit(events.Unsubscribed(app_id, channel, conn.socket_id))
        if user_id is not None:
            await self._leave_presence(conn, channel, UserId(user_id))

    async def _hub_add(self, app_id: AppId, channel: ChannelName, conn: Subscriber) -> None:
        # The first local subscriber makes the broker listen; later ones wait
        # until it does, so nobody is told "subscribed" before events can flow.
        key = (app_id, channel)
        if self.hub.add(app_id, channel, conn):
            if self.bus.wants(events.ChannelOccupied) and not is_internal(channel):
                self.bus.emit(events.ChannelOccupied(app_id, channel))
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._broker_subscribing[key] = done
            try:
                await self.broker.subscribe(app_id, channel)
            finally:
                del self._broker_subscribing[key]
                done.set_result(None)
            if self.hub.count(app_id, channel) == 0:
                # Everyone left while the broker was subscribing: stop listening,
                # or the broker would keep a channel nobody here wants.
                await self.broker.unsubscribe(app_id, channel)
        else:
            pending = self._broker_subscribing.get(key)
            if pending is not None:
                # Each waiter awaits its own shield: several commands stepped eagerly
                # (web/eager.py) may wait here before any task runs, and a bare future
                # awaited twice that way raises "await wasn't used with future"; a
                # waiter's cancellation must not cancel the first subscriber's future.
                await asyncio.shield(pending)

    def _shared_counts(self) -> dict[tuple[AppId, ChannelName], int]:
        """This node's counts for its heartbeat, without the server's own channels."""
        counts = self.hub.all_counts()
        return {key: n for key, n in counts.items() if not is_internal(key[1])}

    async def _join_internal(self, conn: Connection, channel: ChannelName) -> None:
        """Put ``conn`` on one of the server's own channels: no events, no counts."""
        if not self.hub.is_subscribed(conn.app.id, channel, conn):
            await self._hub_add(conn.app.id, channel, conn)

    async def _leave_internal(self, conn: Connection, channel: ChannelName) -> None:
        """Take ``conn`` off one of the server's own channels."""
        app_id = conn.app.id
        if self.hub.remove(app_id, channel, conn) and (app_id, channel) not in (
            self._broker_subscribing
        ):
            await self.broker.unsubscribe(app_id, channel)

    async def _announce_count(self, message: SubscriptionCount) -> None:
        await self.broker.publish(message)
        self.bus.emit(
            events.SubscriptionCountChanged(message.app_id, message.channel, message.count)
        )


if TYPE_CHECKING:
    _handler: type[BrokerHandler] = Node
