"""What a node does only when it shares the cluster with other nodes.

``ClusterLink`` is the node's ``LivenessHandler``: it starts the liveness port
(retrying while it is unreachable), reports local subscription counts with each
heartbeat, removes the members of a dead peer (announcing each user once), and
re-adds this node's members when its own heartbeat had lapsed. A single process
(memory broker) has no liveness and builds none of this.

Connection counts per app travel with the subscription counts, under the reserved
app id ``#connections`` (the "channel" is the app id), so ``max_connections`` is
cluster-wide: after each heartbeat the link reads the other nodes' counts, and
``remote_connections`` answers from that copy without a Redis round trip. A node's
count is at most one heartbeat interval old when stored and read one interval later
at most: the view lags by up to two intervals (``cluster_heartbeat_ttl`` * 2/3).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

import structlog

from tidings import tasks
from tidings.broker.base import DeadMember, LivenessHandler, NodeLiveness, PresenceStore
from tidings.errors import TidingsError
from tidings.typing import AppId, ChannelName, NodeId

__all__ = ["CONNECTIONS_APP", "ClusterLink"]

_RETRY_START_S = 1.0
#: The reserved app id under which nodes report connection counts (no real channel has "#").
CONNECTIONS_APP: Final = AppId("#connections")

log = structlog.get_logger(__name__)


class ClusterLink:
    """The cluster duties of one node.

    Args:
        node_id: this node's id.
        liveness: heartbeats, peers and counts.
        presence: the shared presence store (to remove a dead peer's members).
        local_counts: this node's subscription count per channel.
        local_connections: this node's connection count per app.
        members_gone: announces users whose last connection went.
        resync: re-adds this node's members (after its heartbeat lapsed).
    """

    def __init__(
        self,
        *,
        node_id: NodeId,
        liveness: NodeLiveness,
        presence: PresenceStore,
        local_counts: Callable[[], Mapping[tuple[AppId, ChannelName], int]],
        local_connections: Callable[[], Mapping[AppId, int]],
        members_gone: Callable[[Iterable[DeadMember]], Awaitable[None]],
        resync: Callable[[], Awaitable[None]],
    ) -> None:
        self._node_id = node_id
        self._liveness = liveness
        self._presence = presence
        self._local_counts = local_counts
        self._local_connections = local_connections
        self._remote_connections: dict[AppId, int] = {}
        self._reading: asyncio.Task[None] | None = None
        self._members_gone = members_gone
        self._resync = resync
        self._starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the heartbeat (in the background while the store is unreachable)."""
        try:
            await self._liveness.start(self)
        except TidingsError as exc:
            log.warning("cluster heartbeat not started; retrying", reason=exc.message)
            self._starting = asyncio.get_running_loop().create_task(self._start_later())

    async def close(self) -> None:
        """Leave the cluster cleanly: forget this node's members, stop beating."""
        await tasks.stop(self._starting, self._reading)
        with contextlib.suppress(TidingsError):
            await self._members_gone(await self._presence.remove_node(self._node_id))
        await self._liveness.close()

    async def peers(self) -> list[str]:
        """Live node ids (from heartbeats)."""
        return await self._liveness.peers()

    async def remote_counts(self, app_id: AppId) -> dict[ChannelName, int]:
        """The other nodes' subscription counts for ``app_id``, summed per channel."""
        return await self._liveness.cluster_counts(app_id)

    def remote_connections(self, app_id: AppId) -> int:
        """How many connections of ``app_id`` the other live nodes held at their last
        heartbeat, as read after this node's last one (no I/O)."""
        return self._remote_connections.get(app_id, 0)

    async def _read_connections(self) -> None:
        try:
            totals = await self._liveness.cluster_counts(CONNECTIONS_APP)
        except TidingsError:
            return  # Redis is away: keep the last figures (the heartbeat logs it)
        self._remote_connections = {AppId(app_id): n for app_id, n in totals.items()}

    # -- LivenessHandler -------------------------------------------------------

    def local_counts(self) -> Mapping[tuple[AppId, ChannelName], int]:
        """This node's counts, stored with each heartbeat: subscriptions per channel and
        connections per app. Each beat also starts reading the other nodes' connections."""
        counts = dict(self._local_counts())
        for app_id, n in self._local_connections().items():
            counts[(CONNECTIONS_APP, ChannelName(app_id))] = n
        if self._reading is None or self._reading.done():
            self._reading = asyncio.get_running_loop().create_task(self._read_connections())
        return counts

    async def peer_died(self, node_id: str) -> None:
        """Remove a dead peer's members; only users it took away are announced."""
        gone = await self._presence.remove_node(node_id)
        if gone:
            log.info("removed members of a dead node", node=node_id, users=len(gone))
            await self._members_gone(gone)

    async def heartbeat_lapsed(self) -> None:
        """Peers may have removed this node's members: add them again."""
        log.warning("this node's heartbeat had lapsed; re-adding its presence members")
        await self._resync()

    async def _start_later(self) -> None:
        while True:
            await asyncio.sleep(_RETRY_START_S)
            try:
                await self._liveness.start(self)
            except TidingsError:
                continue
            log.info("cluster heartbeat started")
            await self._resync()
            return


if TYPE_CHECKING:
    _check: type[LivenessHandler] = ClusterLink
