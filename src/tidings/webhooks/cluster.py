"""What the webhook service does in a cluster: cluster-wide occupancy and takeovers.

- ``channel_occupied`` / ``channel_vacated``: the core reports each node's LOCAL
  0 <-> 1 transitions. This node applies them, in order, to the shared
  occupancy (:meth:`ClusterStore.occupancy`), and sends the webhook event only
  when the cluster as a whole crossed 0 <-> 1: once, whichever node saw it.
  Only channels some webhook wants these events for are tracked.
- Every ``beat_interval`` this node beats, and takes over every node whose beat
  expired: that node's unsettled deliveries become this node's (sent at once),
  and the channels only it occupied are vacated (the events come from here).
  The takeover is one Lua script, so two survivors never both get a node.
- A node that was seen as dead while alive (a Redis outage longer than the ttl)
  adds its occupancy and deliveries again when it beats next.

``member_added`` / ``member_removed`` need nothing here: the core already emits
them once per cluster, a dead node's from the survivor that reaped it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import structlog

from tidings import tasks
from tidings.apps.webhooks import Webhook
from tidings.domain import events
from tidings.errors import TidingsError
from tidings.webhooks.service import WebhookService
from tidings.webhooks.store import ClusterStore, Occupancy

__all__ = ["ClusterDuties"]

log = structlog.get_logger(__name__)

_OCCUPANCY = frozenset({"channel_occupied", "channel_vacated"})
_RETRY_S = 1.0
#: Seconds ``start`` waits at most for the first beat and take-back (see there).
_JOIN_WAIT_S = 5.0


class ClusterDuties:
    """The cluster half of one node's webhook service.

    Args:
        service: the node's service (this installs itself as its ``intercept``).
        store: the shared store.
    """

    def __init__(self, service: WebhookService, store: ClusterStore) -> None:
        self._service = service
        self._store = store
        self._changes: deque[Occupancy] = deque()
        self._occupied: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._reachable = True
        # Set once the first beat took back what this node id left behind: occupancy
        # changes wait for it, else that take-back would also undo this life's first ones.
        self._joined = asyncio.Event()
        self._first_beat_tried = asyncio.Event()

    async def start(self) -> None:
        """Start the loops; the first beat (at once, then retried while Redis is away) takes
        back what this node id left behind in a previous life.

        Returns once that first beat was tried (within ``_JOIN_WAIT_S``), so the node
        serves no client before it joined: occupancy changes made meanwhile would wait
        for the join while the peers apply theirs, and reach the store out of order (a
        channel three nodes held at once, vacated and occupied again). While Redis does
        not answer, the node serves anyway and joins in the background.
        """
        self._service.intercept = self._intercept
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._apply_loop(), name="webhooks-occupancy"))
        self._tasks.append(loop.create_task(self._beat_loop(), name="webhooks-beat"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_beat_tried.wait(), _JOIN_WAIT_S)

    @property
    def joined(self) -> bool:
        """The first beat took back what this node id left behind (see ``start``)."""
        return self._joined.is_set()

    async def drain(self, deadline: float) -> None:
        """Apply the occupancy changes still queued (until the loop time ``deadline``)."""
        self._wake.set()
        remaining = deadline - asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), max(remaining, 0))

    async def close(self) -> None:
        """Stop the loops and stop beating, so that a survivor takes over what is left now."""
        await tasks.stop(*self._tasks)
        self._tasks.clear()
        with contextlib.suppress(TidingsError):
            await self._store.leave()

    # -- occupancy -------------------------------------------------------------------

    def _intercept(self, event: events.Event, hooks: tuple[Webhook, ...]) -> bool:
        # On the core's path: queue the change, never await.
        if event.name not in _OCCUPANCY:
            return False
        assert isinstance(event, events.ChannelOccupied | events.ChannelVacated)
        if any(_wants_occupancy(hook, event.channel) for hook in hooks):
            kind = "occupied" if event.name == "channel_occupied" else "vacated"
            self._changes.append((kind, event.app_id, event.channel))
            self._idle.clear()
            self._wake.set()
        return True

    async def _apply_loop(self) -> None:
        await self._joined.wait()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._changes:
                batch = list(self._changes)
                try:
                    crossed = await self._store.occupancy(batch)
                except TidingsError as exc:
                    self._unreachable(exc)
                    await asyncio.sleep(_RETRY_S)
                    continue
                for _ in batch:
                    self._changes.popleft()
                # Changes a shard could not take wait for the next round, in order
                # (and before anything queued meanwhile: older changes of a channel first).
                self._changes.extendleft(
                    reversed([c for c, yes in zip(batch, crossed, strict=True) if yes is None])
                )
                for (kind, app_id, channel), yes in zip(batch, crossed, strict=True):
                    if yes is None:
                        continue
                    if kind == "occupied":
                        self._occupied.add((app_id, channel))
                    else:
                        self._occupied.discard((app_id, channel))
                    if yes:
                        self._offer(f"channel_{kind}", app_id, channel)
                if None in crossed:
                    await asyncio.sleep(_RETRY_S)
            self._idle.set()

    def _offer(self, name: str, app_id: str, channel: str) -> None:
        hooks = self._service.hooks.get(app_id)
        if hooks:
            self._service.offer(app_id, {"name": name, "channel": channel}, hooks)

    def _vacated(self, channels: list[tuple[str, str]]) -> None:
        for app_id, channel in channels:
            self._offer("channel_vacated", app_id, channel)

    # -- liveness ----------------------------------------------------------------------

    async def _beat_loop(self) -> None:
        joined = False
        while True:
            try:
                if not joined:
                    await self._store.beat()
                    moved, vacated = await self._store.reap(self._store.node_id, force=True)
                    self._service.adopt(moved)
                    self._vacated(vacated)
                    joined = True
                    self._joined.set()
                elif not await self._store.beat():
                    await self._resync()
                for node in await self._store.dead_owners():
                    await self._take_over(node)
            except TidingsError as exc:
                self._unreachable(exc)
            else:
                if not self._reachable:
                    self._reachable = True
                    log.info("webhook store reachable again")
            self._first_beat_tried.set()
            await asyncio.sleep(self._store.beat_interval)

    async def _take_over(self, node: str) -> None:
        moved, vacated = await self._store.reap(node)
        if moved or vacated:
            log.info(
                "took over a dead node's webhooks",
                node=node,
                deliveries=len(moved),
                vacated=len(vacated),
            )
        self._service.adopt(moved)
        self._vacated(vacated)

    async def _resync(self) -> None:
        log.warning("this node's webhook heartbeat had lapsed; re-adding its state")
        self._changes.extendleft(("occupied", a, c) for a, c in self._occupied)
        self._idle.clear()
        self._wake.set()
        await self._store.put(self._service.pending())

    def _unreachable(self, exc: TidingsError) -> None:
        if self._reachable:
            self._reachable = False
            log.warning("webhook store unreachable; retrying", reason=exc.message)


def _wants_occupancy(hook: Webhook, channel: str) -> bool:
    return any(hook.matches(name, channel) for name in _OCCUPANCY)
