"""Where deliveries are kept: the ports, and the store of a single process.

``DeliveryStore`` keeps the deliveries a node has not settled (so they outlive
it where the store is shared) and the recent ones of each app (the delivery
log of the admin API). ``ClusterStore`` is what a shared store adds: whose
deliveries are whose, taking over a dead node's, and the cluster-wide
occupancy of channels (``channel_occupied`` / ``channel_vacated`` on the
cluster's 0 <-> 1 transition). The Redis implementation is
``tidings.webhooks.redis_store``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from tidings.webhooks.delivery import Delivery

__all__ = ["ClusterStore", "DeliveryStore", "MemoryDeliveryStore", "Occupancy", "Reaped"]

Occupancy = tuple[str, str, str]
"""One change of a node's occupancy: (``"occupied"`` or ``"vacated"``, app id, channel)."""

Reaped = tuple[list[Delivery], list[tuple[str, str]]]
"""What taking over a dead node gives: its unsettled deliveries, and the (app id,
channel) pairs nobody occupies any more now that it is gone."""


class DeliveryStore(Protocol):
    """Unsettled deliveries and the delivery log."""

    async def put(self, deliveries: Sequence[Delivery]) -> None:
        """Record each delivery's current state: unsettled ones are kept as this
        node's, settled ones are released; all go to (or update) the log.

        Raises:
            TidingsError: the store is unreachable (the caller retries later).
        """

    async def recent(self, app_id: str, limit: int) -> list[Delivery]:
        """The app's latest ``limit`` deliveries, newest first."""

    async def get(self, app_id: str, delivery_id: str) -> Delivery | None:
        """One delivery of the log, or ``None``."""

    async def close(self) -> None:
        """Release connections. Unsettled deliveries stay where the store keeps them."""


class ClusterStore(DeliveryStore, Protocol):
    """A store shared by the nodes of a cluster (Redis)."""

    node_id: str
    beat_interval: float

    async def beat(self) -> bool:
        """Say this node is alive; ``False`` when it had been seen as dead since the last beat
        (its deliveries and occupancy may have been taken over)."""

    async def dead_owners(self) -> list[str]:
        """Nodes holding deliveries or occupancy whose beat expired (never this one)."""

    async def reap(self, node_id: str, *, force: bool = False) -> Reaped:
        """Take over ``node_id``'s unsettled deliveries and remove its occupancy, atomically:
        of two nodes reaping one, only one gets anything. Without ``force`` a node
        that beat again meanwhile is left alone."""

    async def occupancy(self, changes: Sequence[Occupancy]) -> list[bool | None]:
        """Apply this node's changes in order; ``True`` for each that crossed the
        cluster-wide 0 <-> 1 transition, ``None`` for each that could not be applied
        (its Redis shard did not answer: apply it again later, in order).

        Raises:
            TidingsError: nothing could be applied.
        """

    async def leave(self) -> None:
        """Stop beating now, so that another node takes over what is left at once."""


class MemoryDeliveryStore:
    """One process: nothing outlives it; the log keeps ``log_size`` deliveries per app."""

    def __init__(self, log_size: int) -> None:
        self.log_size = log_size
        self._log: dict[str, OrderedDict[str, Delivery]] = {}

    async def put(self, deliveries: Sequence[Delivery]) -> None:
        """Update the log (a delivery trimmed out of it stays out)."""
        for delivery in deliveries:
            log = self._log.setdefault(delivery.app_id, OrderedDict())
            if delivery.id in log or delivery.attempts == 0:
                log[delivery.id] = delivery
            while len(log) > self.log_size:
                log.popitem(last=False)

    async def recent(self, app_id: str, limit: int) -> list[Delivery]:
        """The app's latest ``limit`` deliveries, newest first."""
        log = self._log.get(app_id)
        if not log:
            return []
        return list(reversed(log.values()))[:limit]

    async def get(self, app_id: str, delivery_id: str) -> Delivery | None:
        """One delivery of the log, or ``None``."""
        log = self._log.get(app_id)
        return log.get(delivery_id) if log is not None else None

    async def close(self) -> None:
        """Nothing to release."""


if TYPE_CHECKING:
    _check: type[DeliveryStore] = MemoryDeliveryStore
