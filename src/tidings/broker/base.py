"""The Broker and PresenceStore seams.

A broker carries publications between nodes; a presence store keeps who is on
each presence channel. The embedded memory implementations serve one process;
the Redis ones join many. The core implements ``BrokerEventHandler`` and never
reaches into a broker; brokers hand messages back through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from tidings.core.model import Member, Publication
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = ["Broker", "BrokerEventHandler", "ClusterPresence", "DeadMember", "PresenceStore"]

DeadMember = tuple[AppId, ChannelName, UserId]
"""A user whose last connection on a channel was on a node that died."""


class BrokerEventHandler(Protocol):
    """What a broker calls back into: the node."""

    def handle_publication(self, pub: Publication) -> None:
        """Deliver ``pub`` to this node's local subscribers. Must not block or raise."""


class Broker(Protocol):
    """Cross-node fan-out plus the last event of cache channels."""

    async def start(self, handler: BrokerEventHandler) -> None:
        """Connect and register the handler that receives every publication."""

    async def close(self) -> None:
        """Stop receiving and release connections. Idempotent."""

    async def subscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """This node has its first local subscriber on ``channel``: start receiving it."""

    async def unsubscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """This node's last local subscriber left ``channel``: stop receiving it."""

    async def publish(self, pub: Publication) -> None:
        """Deliver ``pub`` to every node subscribed to its channel, this one included.

        Order is preserved per channel for publishes from one node. For cache
        channels the publication is also stored as the channel's last event,
        atomically with the publish.
        """

    async def last_event(self, app_id: AppId, channel: ChannelName) -> Publication | None:
        """The last event of a cache channel, or ``None`` (a cache miss)."""

    @property
    def healthy(self) -> bool:
        """Whether the broker can currently reach every node (``/ready``)."""


class PresenceStore(Protocol):
    """Who is on each presence channel, deduplicated by user id.

    A user with several connections on one channel is one member: ``add``
    reports the first connection, ``remove`` the last.
    """

    async def add(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, member: Member
    ) -> bool:
        """Record a connection of ``member``; ``True`` when the user was not a member before."""

    async def remove(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, user_id: UserId
    ) -> bool:
        """Forget a connection; ``True`` when it was the user's last one on the channel."""

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """Every member of ``channel``: user id → ``user_info``."""

    async def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on ``channel``."""


@runtime_checkable
class ClusterPresence(PresenceStore, Protocol):
    """A presence store shared by several nodes (Redis), with node liveness.

    The node sets the hooks before ``start``: ``on_dead_members`` receives the
    users whose last connection was on a node that died, ``on_heartbeat_lapsed``
    runs when peers may have dropped this node's members, and ``local_counts``
    reports this node's subscription counts to store with each heartbeat.
    """

    on_dead_members: Callable[[list[DeadMember]], Awaitable[None]] | None
    on_heartbeat_lapsed: Callable[[], Awaitable[None]] | None
    local_counts: Callable[[], Mapping[tuple[AppId, ChannelName], int]] | None

    async def start(self) -> None:
        """Beat once, then keep beating in the background."""

    async def close(self) -> None:
        """Stop beating and release the connection."""

    async def peers(self) -> list[str]:
        """Ids of the live nodes, this one included."""

    async def cluster_counts(self, app_id: AppId) -> dict[ChannelName, int]:
        """Subscription counts stored by the other live nodes, summed per channel."""

    async def remove_node(self, node_id: str) -> list[DeadMember]:
        """Remove every member ``node_id`` holds; the users whose last connection went."""
