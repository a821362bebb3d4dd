"""What the HTTP API and the admin listener ask a node: counts, channels, members, peers.

Read-only: nothing here changes the node. ``Node`` inherits these, so callers
ask ``node.channels(app_id)``; the answers are cluster-wide where a cluster
exists (other nodes' figures come from their last heartbeat, seconds old).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from tidings.domain.channels import ChannelKind, channel_kind, is_internal
from tidings.errors import TidingsError
from tidings.typing import AppId, ChannelName, NodeId, UserId

if TYPE_CHECKING:
    from tidings.core.cluster import ClusterLink
    from tidings.core.hub import Hub
    from tidings.core.presence import PresenceKeeper
    from tidings.core.registry import ConnectionRegistry

__all__ = ["NodeQueries"]


class NodeQueries:
    """The node's read-only queries (mixed into ``Node``, which sets these attributes)."""

    node_id: NodeId
    hub: Hub
    registry: ConnectionRegistry
    presence: PresenceKeeper
    cluster: ClusterLink | None

    def connection_count(self, app_id: AppId) -> int:
        """How many local connections ``app_id`` has."""
        return self.registry.count(app_id)

    def cluster_connection_count(self, app_id: AppId) -> int:
        """How many connections ``app_id`` has on every node.

        Other nodes' counts come from their last heartbeat (a few seconds old).
        """
        count = self.registry.count(app_id)
        if self.cluster is not None:
            count += self.cluster.remote_connections(app_id)
        return count

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

    async def channels(self, app_id: AppId) -> dict[ChannelName, int]:
        """Occupied channels with their subscription counts, cluster-wide.

        Other nodes' counts come from their last heartbeat (a few seconds old);
        one round trip to the cluster store, however many channels there are.
        """
        counts = self.hub.channels(app_id)
        if self.cluster is not None:
            for channel, count in (await self.cluster.remote_counts(app_id)).items():
                counts[channel] = counts.get(channel, 0) + count
        return {channel: n for channel, n in counts.items() if not is_internal(channel)}

    async def channel_stats(
        self, app_id: AppId, channels: Sequence[ChannelName], wanted: Collection[str]
    ) -> dict[ChannelName, dict[str, int]]:
        """The ``wanted`` counts of each channel, cluster-wide, for the HTTP API's ``info``.

        ``subscription_count`` for every channel; ``user_count`` for presence
        channels. One round trip for all subscription counts and one for all user
        counts, however many channels are asked about.
        """
        stats: dict[ChannelName, dict[str, int]] = {channel: {} for channel in channels}
        if "subscription_count" in wanted:
            remote = await self.cluster.remote_counts(app_id) if self.cluster else {}
            for channel in channels:
                local = self.hub.count(app_id, channel)
                stats[channel]["subscription_count"] = local + remote.get(channel, 0)
        if "user_count" in wanted:
            presence = [c for c in channels if channel_kind(c) is ChannelKind.PRESENCE]
            for channel, users in (await self.presence.store.counts(app_id, presence)).items():
                stats[channel]["user_count"] = users
        return stats

    async def subscription_count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many connections are on ``channel``, cluster-wide."""
        count = self.hub.count(app_id, channel)
        if self.cluster is not None:
            count += (await self.cluster.remote_counts(app_id)).get(channel, 0)
        return count

    async def user_count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on a presence channel."""
        return await self.presence.store.count(app_id, channel)

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """The members of a presence channel."""
        return await self.presence.store.members(app_id, channel)
