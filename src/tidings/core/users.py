"""Signed-in users across the cluster, and the watchlists of their connections.

Pusher's watchlist: a connection whose signed ``user_data`` has a ``watchlist``
(user ids) is told, in ``pusher_internal:watchlist_events``, which of them are
online right after it signs in, then each time one of them comes online (its
first signed-in connection anywhere in the cluster) or goes offline (its last).

How, with the ports the node already has:

- a signed-in connection is a member of the app's internal presence set
  ``#tidings-users`` (``domain.channels.USERS_CHANNEL``) in the shared
  ``PresenceStore``: its first/last-connection accounting is atomic across
  nodes, and a dead node's members are reaped exactly once (``remove_node``),
  so every online/offline is announced by exactly one node;
- a watcher's connection subscribes, on this node's hub and through the
  broker, to one internal channel per watched user
  (``domain.channels.watch_channel``); an online/offline is a
  ``WatchlistEvent`` published to that channel, so it reaches every watcher
  on every node, encoded once per wire, like any other message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from tidings.core.bus import EventBus
from tidings.core.hub import Hub
from tidings.core.presence import PresenceKeeper
from tidings.core.registry import Connection, ConnectionRegistry
from tidings.domain import events
from tidings.domain.channels import USERS_CHANNEL, watch_channel
from tidings.domain.messages import Member, Message, WatchlistEvent
from tidings.errors import TidingsError
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = ["UserTracker"]

log = structlog.get_logger(__name__)

_Join = Callable[[Connection, ChannelName], Awaitable[None]]


@dataclass(slots=True)
class _SignedIn:
    user_id: UserId
    watchlist: tuple[UserId, ...]


class UserTracker:
    """Sign-ins of this node's connections, cluster-wide online state, watchlists.

    Args:
        registry: this node's connections (indexed by user on sign-in).
        presence: the node's presence keeper (the store holds ``#tidings-users``).
        hub: this node's subscribers, for the snapshot sent to one connection.
        publish: hands a message to the broker (every node, this one included).
        join / leave: put a connection on / take it off an internal channel
            (hub and broker, no lifecycle events).
        bus: where ``user_online`` / ``user_offline`` go.
    """

    def __init__(
        self,
        *,
        registry: ConnectionRegistry,
        presence: PresenceKeeper,
        hub: Hub,
        publish: Callable[[Message], Awaitable[None]],
        join: _Join,
        leave: _Join,
        bus: EventBus,
    ) -> None:
        self._registry = registry
        self._presence = presence
        self._hub = hub
        self._publish = publish
        self._join = join
        self._leave = leave
        self._bus = bus
        self._signed: dict[SocketId, _SignedIn] = {}

    async def sign_in(
        self, conn: Connection, user_id: UserId, watchlist: Sequence[UserId] = ()
    ) -> None:
        """``conn`` signed in as ``user_id`` watching ``watchlist``.

        The user comes online if this is its first signed-in connection in the
        cluster; ``conn`` joins the watch channel of each watched user, then
        gets the ``online`` snapshot. Joining first means no change can fall
        between the snapshot and the live events (one may arrive just before
        the snapshot; the state after the snapshot is right). Signing in again
        (as the same user: the session refuses another) replaces the watchlist.
        """
        app_id = conn.app.id
        self._registry.sign_in(conn, user_id)
        self._bus.emit(events.SignedIn(app_id, conn.socket_id, user_id))
        before = self._signed.get(conn.socket_id)
        watched = tuple(dict.fromkeys(watchlist))
        self._signed[conn.socket_id] = _SignedIn(user_id, watched)
        if before is None:
            member = Member(user_id)
            if await self._presence.track(app_id, USERS_CHANNEL, conn.socket_id, member):
                await self.announce(app_id, user_id, online=True)
        old = set(before.watchlist) if before is not None else set()
        for watched_id in watched:
            if watched_id not in old:
                await self._join(conn, watch_channel(watched_id))
        for watched_id in old.difference(watched):
            await self._leave(conn, watch_channel(watched_id))
        if watched:
            await self._send_snapshot(conn, watched)

    async def sign_out(self, conn: Connection) -> None:
        """``conn`` closed: leave its watch channels; the user goes offline after its last."""
        signed = self._signed.pop(conn.socket_id, None)
        if signed is None:
            return
        for watched_id in signed.watchlist:
            await self._leave(conn, watch_channel(watched_id))
        app_id = conn.app.id
        if await self._presence.leave(app_id, USERS_CHANNEL, conn.socket_id, signed.user_id):
            await self.announce(app_id, signed.user_id, online=False)

    async def announce(self, app_id: AppId, user_id: UserId, *, online: bool) -> None:
        """Tell every watcher of ``user_id`` on every node, and the bus (exactly once)."""
        name = "online" if online else "offline"
        await self._publish(WatchlistEvent(app_id, watch_channel(user_id), name, (user_id,)))
        if online:
            self._bus.emit(events.UserOnline(app_id, user_id))
        else:
            self._bus.emit(events.UserOffline(app_id, user_id))

    async def _send_snapshot(self, conn: Connection, watched: tuple[UserId, ...]) -> None:
        try:
            online = await self._presence.store.present(conn.app.id, USERS_CHANNEL, watched)
        except TidingsError as exc:
            # Live changes still arrive; only the snapshot is lost (logged, not fatal).
            log.warning("watchlist snapshot unavailable", reason=exc.message)
            return
        online_set = set(online)
        snapshot = tuple(user for user in watched if user in online_set)
        self._hub.send_to(conn, WatchlistEvent(conn.app.id, USERS_CHANNEL, "online", snapshot))
