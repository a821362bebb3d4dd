"""What a node does only when it shares presence with other nodes (Redis).

``ClusterLink`` wires the node to a ``ClusterPresence`` store: it starts the
heartbeat (retrying while the store is unreachable), announces the members of
dead nodes, re-adds this node's members when the store may have lost them,
reports local subscription counts with each heartbeat and reads the others'.
Memory mode never builds one, so a single process does none of this work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import structlog

from tidings.broker.base import ClusterPresence, DeadMember
from tidings.errors import TidingsError
from tidings.typing import AppId, ChannelName

if TYPE_CHECKING:
    from tidings.core.node import Node

__all__ = ["CONTROL_APP", "CONTROL_CHANNEL", "ClusterLink"]

# Node-to-node messages (terminate a user's connections) travel as publications
# of this reserved app; "#" can never start a real app's channel name.
CONTROL_APP: Final = AppId("#cluster")
CONTROL_CHANNEL: Final = ChannelName("#control")

_RETRY_START_S = 1.0

log = structlog.get_logger(__name__)


class ClusterLink:
    """The cluster duties of one node.

    Args:
        node: the node; its ``presence`` must be a ``ClusterPresence``.
    """

    def __init__(self, node: Node) -> None:
        presence = node.presence
        assert isinstance(presence, ClusterPresence)
        self._node = node
        self._presence = presence
        self._starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Set the store's hooks and start its heartbeat (in the background if Redis is down)."""
        presence = self._presence
        presence.on_dead_members = self._dead_members
        presence.on_heartbeat_lapsed = self._node.resync_presence
        presence.local_counts = self._local_counts
        broker = self._node.broker
        if hasattr(broker, "on_reconnect"):
            broker.on_reconnect = self._node.resync_presence
        try:
            await presence.start()
        except TidingsError as exc:
            log.warning("cluster heartbeat not started; retrying", reason=exc.message)
            self._starting = asyncio.get_running_loop().create_task(self._start_later())

    async def close(self) -> None:
        """Leave the cluster cleanly: forget this node's members, stop beating."""
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        with contextlib.suppress(TidingsError):
            gone = await self._presence.remove_node(self._node.node_id)
            await self._node.members_gone(gone)
        await self._presence.close()

    async def peers(self) -> list[str]:
        """Live node ids (from heartbeats)."""
        return await self._presence.peers()

    async def remote_counts(self, app_id: AppId) -> dict[ChannelName, int]:
        """The other nodes' subscription counts for ``app_id``, summed per channel."""
        return await self._presence.cluster_counts(app_id)

    async def _start_later(self) -> None:
        while True:
            await asyncio.sleep(_RETRY_START_S)
            try:
                await self._presence.start()
            except TidingsError:
                continue
            log.info("cluster heartbeat started")
            await self._node.resync_presence()
            return

    async def _dead_members(self, gone: list[DeadMember]) -> None:
        log.info("removed members of dead nodes", users=len(gone))
        await self._node.members_gone(gone)

    def _local_counts(self) -> Mapping[tuple[AppId, ChannelName], int]:
        return self._node.hub.all_counts()
