"""The seams between a node and what it shares with other nodes (the ports).

- ``Broker`` carries messages (``tidings.domain.messages``) between nodes,
  keeps a cache channel's last event and the history of channels that keep
  one; it hands what it receives back through a ``BrokerHandler`` (the node),
  never reaching into the core.
- ``PresenceStore`` keeps who is on each presence channel, deduplicated by user.
- ``NodeLiveness`` tells which nodes are alive (heartbeats), carries each node's
  subscription counts, and reports through a ``LivenessHandler`` when a peer
  died or when this node's own heartbeat lapsed.

The embedded memory implementations serve one process and have no liveness;
the Redis ones join many (one Redis object may implement several ports).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tidings.domain.history import HistoryPage, Retention
from tidings.domain.messages import Control, Member, Message, Publication
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = [
    "Broker",
    "BrokerHandler",
    "DeadMember",
    "LivenessHandler",
    "NodeLiveness",
    "PresenceFull",
    "PresenceStore",
]

DeadMember = tuple[AppId, ChannelName, UserId]
"""A user whose last connection on a channel was on a node that died."""


class BrokerHandler(Protocol):
    """What a broker calls back into: the node."""

    def handle_message(self, message: Message) -> None:
        """Deliver ``message`` to this node's local subscribers. Must not block or raise."""

    def handle_control(self, control: Control) -> None:
        """Carry out a node-to-node instruction. Must not block or raise."""

    async def broker_recovered(self) -> None:
        """The broker is reachable again after an outage (not after the first connection)."""


class Broker(Protocol):
    """Cross-node fan-out plus the last event of cache channels and channel history.

    History: a ``Publication`` published with ``keep`` (the node gives it on
    channels whose app keeps history; never for client events) is given the channel's
    next ``serial`` (+1, starting at 1) and its ``stream_id``, atomically with
    storing it and fanning it out, and is delivered to every node WITH them: the
    same serial everywhere, each serial once per stream. A node receives one
    channel's kept publications in serial order while its link holds; after a
    link failure it may miss some (the node fills the gap from ``history``). The
    stream keeps the last ``keep.size`` publications, for ``keep.ttl`` seconds
    after the last one; when the whole stream is lost (expiry, eviction, a
    restarted Redis without persistence) the next publication starts a new
    ``stream_id`` at serial 1.
    """

    async def start(self, handler: BrokerHandler) -> None:
        """Connect and register the handler that receives every message and control."""

    async def close(self) -> None:
        """Stop receiving and release connections. Idempotent."""

    async def subscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """This node has its first local subscriber on ``channel``: start receiving it."""

    async def unsubscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """This node's last local subscriber left ``channel``: stop receiving it."""

    async def publish(self, message: Message, *, keep: Retention | None = None) -> None:
        """Deliver ``message`` to every node subscribed to its channel, this one included.

        With ``keep``, a ``Publication`` is kept in the channel's history (the
        class docstring); its copy with ``serial`` and ``stream_id`` is what
        every node receives.

        Order is preserved per channel for publishes from one node. A
        ``Publication`` with ``cache`` set is also stored as the channel's last
        event, atomically with the publish.
        """

    async def publish_control(self, control: Control) -> None:
        """Deliver ``control`` to every node's ``handle_control``, this one included."""

    async def last_event(self, app_id: AppId, channel: ChannelName) -> Publication | None:
        """The last event stored for ``channel``, or ``None`` (a cache miss)."""

    async def cached(self, app_id: AppId, channel: ChannelName) -> tuple[Publication, float] | None:
        """The last event stored for ``channel`` and the seconds it is still kept, or ``None``.

        For Pusher's ``info=cache``; ``None`` also while the store is unreachable.
        """

    async def history(
        self, app_id: AppId, channel: ChannelName, after_serial: int, limit: int
    ) -> HistoryPage:
        """The kept publications of ``channel`` with a serial above ``after_serial``.

        Args:
            after_serial: the last serial the reader has (0: from the start).
            limit: at most this many events, the oldest first (0: the position only).

        Returns:
            The channel's current position (serial 0 and a fresh stream id for a
            channel without a stream yet), the events in serial order, and whether
            nothing after ``after_serial`` was dropped before the first of them.

        Raises:
            UnavailableError: the store cannot be reached (HTTP 503).
        """

    @property
    def healthy(self) -> bool:
        """Whether the broker can currently reach every node (``/ready``)."""


class PresenceFull(Exception):
    """``PresenceStore.add`` refused a new user: the channel has ``limit`` members."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"presence channel is full ({limit} members)")
        self.limit = limit


class PresenceStore(Protocol):
    """Who is on each presence channel, deduplicated by user id.

    A user with several connections on one channel is one member: ``add``
    reports the first connection, ``remove`` the last.
    """

    async def add(
        self,
        app_id: AppId,
        channel: ChannelName,
        socket_id: SocketId,
        member: Member,
        *,
        limit: int | None = None,
    ) -> bool:
        """Record a connection of ``member``; ``True`` when the user was not a member before.

        Args:
            limit: refuse a user who is not a member yet when the channel
                already has this many members. Checked atomically with the add,
                so concurrent adds on several nodes cannot pass it together.

        Raises:
            PresenceFull: over ``limit``; nothing was recorded.
        """

    async def remove(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, user_id: UserId
    ) -> bool:
        """Forget a connection; ``True`` when it was the user's last one on the channel."""

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """Every member of ``channel``: user id → ``user_info``."""

    async def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on ``channel``."""

    async def counts(
        self, app_id: AppId, channels: Sequence[ChannelName]
    ) -> dict[ChannelName, int]:
        """How many distinct users are on each of ``channels``, in one round trip."""

    async def present(
        self, app_id: AppId, channel: ChannelName, user_ids: Sequence[UserId]
    ) -> list[UserId]:
        """Which of ``user_ids`` are members of ``channel`` (in their order), in one round trip."""

    async def remove_node(self, node_id: str) -> list[DeadMember]:
        """Forget every connection ``node_id`` held (its clean exit, or its death).

        Returns the users whose last connection on a channel went with it.
        Concurrent calls for one node (several survivors) report each user once
        in total, so ``member_removed`` is announced exactly once.
        """


class LivenessHandler(Protocol):
    """What node liveness calls back into: the node."""

    def local_counts(self) -> Mapping[tuple[AppId, ChannelName], int]:
        """This node's subscription count per channel, stored with each heartbeat."""

    async def peer_died(self, node_id: str) -> None:
        """``node_id``'s heartbeat expired: its connections are gone."""

    async def heartbeat_lapsed(self) -> None:
        """This node's own heartbeat had expired: peers may have removed its members."""


class NodeLiveness(Protocol):
    """Which nodes are alive, and their subscription counts (cluster mode only)."""

    async def start(self, handler: LivenessHandler) -> None:
        """Beat once, then keep beating in the background.

        Raises:
            TidingsError: the first beat failed (the caller retries).
        """

    async def close(self) -> None:
        """Stop beating and forget this node's heartbeat. Idempotent."""

    async def peers(self) -> list[str]:
        """Ids of the live nodes, this one included, sorted."""

    async def cluster_counts(self, app_id: AppId) -> dict[ChannelName, int]:
        """Subscription counts the OTHER live nodes reported, summed per channel.

        One round trip per call, however many channels or nodes there are.
        """
