"""The node's connections: registering, forgetting, signing in, terminating.

``Node`` inherits these, so the shells call ``node.attach(conn)``. The
contract: ``attach`` enforces the app's connection quota (cluster-wide) before
anything else sees the connection; ``detach`` leaves every channel the session
tracked and signs the user out, then emits ``ConnectionClosed``;
``terminate_user_connections`` reaches every node through a control message,
which each node's ``handle_control`` carries out on its own connections.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tidings.domain import events
from tidings.domain.messages import Control
from tidings.typing import AppId, ChannelName, UserId

if TYPE_CHECKING:
    from tidings.broker.base import Broker
    from tidings.core.bus import EventBus
    from tidings.core.cluster import ClusterLink
    from tidings.core.registry import Connection, ConnectionRegistry
    from tidings.core.users import UserTracker

__all__ = ["TERMINATE_CODE", "TERMINATE_REASON", "NodeConnections"]

# 4009 is in Pusher's 4000-4099 "do not reconnect" range, so a terminated
# client stays away; Soketi and Sockudo use the same code and reason.
TERMINATE_CODE = 4009
TERMINATE_REASON = "You got disconnected by the app."


class NodeConnections:
    """The node's connection lifecycle (mixed into ``Node``, which sets these attributes)."""

    broker: Broker
    bus: EventBus
    registry: ConnectionRegistry
    users: UserTracker
    cluster: ClusterLink | None

    if TYPE_CHECKING:

        async def unsubscribe(
            self, conn: Connection, channel: ChannelName, user_id: str | None = None
        ) -> None: ...

    def attach(self, conn: Connection, *, remote: str | None = None) -> None:
        """Register a new connection.

        ``max_connections`` counts every node: the others' connections as of their
        last heartbeat (see ``ClusterLink.remote_connections``).

        Raises:
            ConnectionRejected: 4004 when the app is at its connection quota.
        """
        app = conn.app
        elsewhere = 0
        if app.max_connections is not None and self.cluster is not None:
            elsewhere = self.cluster.remote_connections(app.id)
        self.registry.add(conn, limit=app.max_connections, elsewhere=elsewhere)
        bus = self.bus
        if bus.wants(events.ConnectionOpened):
            bus.emit(events.ConnectionOpened(conn.app.id, conn.socket_id, conn.wire, remote))

    async def detach(
        self, conn: Connection, channels: Iterable[tuple[str, str | None]], code: int | None = None
    ) -> None:
        """Forget a closed connection and leave every channel it was on.

        Args:
            channels: (channel, presence user id or ``None``) pairs, as the session tracked them.
            code: the close code the server sent, if any (for the event).
        """
        self.registry.remove(conn)
        for channel, user_id in list(channels):
            await self.unsubscribe(conn, ChannelName(channel), user_id)
        await self.users.sign_out(conn)
        bus = self.bus
        if bus.wants(events.ConnectionClosed):
            bus.emit(events.ConnectionClosed(conn.app.id, conn.socket_id, conn.wire, code))

    def connections(self, app_id: AppId | None = None) -> list[Connection]:
        """Local connections, of one app or of all."""
        return self.registry.of_app(app_id) if app_id is not None else self.registry.all()

    async def sign_in(
        self, conn: Connection, user_id: UserId, watchlist: Sequence[UserId] = ()
    ) -> None:
        """``conn`` authenticated as ``user_id`` (``pusher:signin``), watching ``watchlist``.

        See :class:`tidings.core.users.UserTracker`: the user comes online on its
        first connection in the cluster, and ``conn`` gets the watchlist snapshot.
        """
        await self.users.sign_in(conn, user_id, watchlist)

    def user_connections(self, app_id: AppId, user_id: UserId) -> list[Connection]:
        """The local connections signed in as ``user_id``."""
        return self.registry.of_user(app_id, user_id)

    async def terminate_user_connections(self, app_id: AppId, user_id: UserId) -> int:
        """Close every connection signed in as ``user_id``, on every node, with 4009.

        4009 is what Pusher and Soketi use. The request travels as a control
        message, so each node closes its own connections.

        Returns:
            How many connections this node closed.
        """
        local = len(self.registry.of_user(app_id, user_id))
        await self.broker.publish_control(
            Control("terminate", {"app_id": app_id, "user_id": user_id})
        )
        return local

    def handle_control(self, control: Control) -> None:
        """Broker callback: carry out a node-to-node instruction."""
        if control.command == "terminate":
            app_id, user_id = AppId(control.args["app_id"]), UserId(control.args["user_id"])
            for conn in self.registry.of_user(app_id, user_id):
                conn.close(TERMINATE_CODE, TERMINATE_REASON)
