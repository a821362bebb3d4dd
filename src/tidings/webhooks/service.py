"""The webhook service of one node: bus listeners -> batches -> signed POSTs, retried.

The listeners run on the core's paths (fan-out, subscribe, client events) and
never await: they look the app's webhooks up in a dictionary, append to a
bounded batch and set an ``asyncio.Event``. Everything else happens in the
service's own tasks:

- the *dispatcher* turns ready batches into deliveries, records them in the
  store (a shared one keeps them if this node dies), and starts the attempts
  that are due, at most ``max_in_flight`` at a time;
- each *attempt* looks the app up (its current key and secret), stamps and signs
  a fresh body, POSTs it, and records the outcome (:func:`after_attempt`;
  ``tidings.webhooks.attempts``);
- the *refresher* re-reads every app's webhooks each second (apps can change
  while the server runs);
- in a cluster, :class:`~tidings.webhooks.cluster.ClusterDuties` adds the
  cluster-wide occupancy and the takeover of dead nodes' deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import structlog

from tidings import tasks
from tidings.apps.base import AppStore
from tidings.apps.webhooks import Webhook
from tidings.core.bus import EventBus
from tidings.domain import events
from tidings.domain.channels import is_internal
from tidings.errors import TidingsError
from tidings.webhooks.attempts import account_attempt, post_attempt, record_delivery
from tidings.webhooks.batcher import Batcher, headers_by_url
from tidings.webhooks.delivery import Attempt, Delivery, after_attempt, new_delivery_id
from tidings.webhooks.payloads import (
    SOURCES,
    Source,
    WebhookEvent,
    webhook_event,
)
from tidings.webhooks.sender import Sender
from tidings.webhooks.stats import WebhookStats
from tidings.webhooks.store import DeliveryStore

__all__ = ["Duties", "WebhookService"]

log = structlog.get_logger(__name__)

_REFRESH_S = 1.0
_STORE_RETRY_S = 1.0
_DROP_LOG_EVERY_S = 10.0


class Duties(Protocol):
    """What a cluster adds to the service (``tidings.webhooks.cluster.ClusterDuties``)."""

    async def start(self) -> None:
        """Start, after the service read its apps."""

    async def drain(self, deadline: float) -> None:
        """Finish the work that produces events, before the final flush."""

    async def close(self) -> None:
        """Stop, after the final flush."""


class WebhookService:
    """Deliver one node's webhook events.

    Args:
        node_id: this node's id (recorded on its deliveries).
        bus: the node's event bus.
        apps: where each app's webhooks, key and secret are read.
        store: where deliveries are kept.
        batcher: batching and the per-app bound.
        sender: the HTTP client.
        clock: Unix time (tests pass a fake one).
        max_in_flight: attempts running at once.
        shared_store: the store outlives this node (Redis): what is unsettled at
            shutdown is left there for another node, not given up.
    """

    def __init__(
        self,
        *,
        node_id: str,
        bus: EventBus,
        apps: AppStore,
        store: DeliveryStore,
        batcher: Batcher,
        sender: Sender | None = None,
        clock: Callable[[], float] = time.time,
        max_in_flight: int = 64,
        shared_store: bool = False,
    ) -> None:
        self.node_id = node_id
        self.bus = bus
        self.apps = apps
        self.store = store
        self.batcher = batcher
        self.sender = sender if sender is not None else Sender()
        self.clock = clock
        self.stats = WebhookStats()
        self.hooks: dict[str, tuple[Webhook, ...]] = {}
        self._headers: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {}
        self.intercept: Callable[[events.Event, tuple[Webhook, ...]], bool] | None = None
        """Sees each event of an app with webhooks first; ``True`` means it took it."""
        self.duties: Duties | None = None
        self._max_in_flight = max_in_flight
        self._shared = shared_store
        self._progress: asyncio.Future[None] | None = None
        self._when: dict[str, float] = {}
        self._pending: dict[str, Delivery] = {}
        self._due: list[tuple[float, int, str]] = []
        self._seq = 0
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._unlisten: list[Callable[[], None]] = []
        self._closing = False
        self._dropped_logged: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Read the apps' webhooks, listen on the bus, start the dispatcher and refresher."""
        await self.refresh()
        if self.duties is not None:
            await self.duties.start()
        for kind in SOURCES:
            self._unlisten.append(self.bus.on(kind, self._on_event))
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._dispatch(), name="webhooks-dispatch"))
        self._tasks.append(loop.create_task(self._refresh_loop(), name="webhooks-refresh"))

    async def close(self, deadline: float) -> None:
        """Flush: batch everything, attempt every pending delivery at once, keep retrying
        until none is left or the loop time ``deadline`` comes; then stop.

        What is still unsettled then stays in the store (a shared store lets another
        node finish it) or, with the memory store, is logged as failed.
        """
        for remove in self._unlisten:
            remove()
        self._unlisten.clear()
        if self.duties is not None:
            await self.duties.drain(deadline)
        self._closing = True
        now = self.clock()
        for delivery in self._pending.values():
            if delivery.id not in self._in_flight:
                self._schedule(delivery, now)
        self._wake.set()
        loop = asyncio.get_running_loop()
        while (self._pending or self.batcher.next_due() is not None) and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled_once(), max(deadline - loop.time(), 0))
        await tasks.stop(*self._tasks, *self._in_flight.values())
        self._tasks.clear()
        if self._pending:
            await self._left_over(list(self._pending.values()))
        if self.duties is not None:
            await self.duties.close()
        await self.sender.close()
        await self.store.close()

    async def _left_over(self, deliveries: list[Delivery]) -> None:
        log.warning(
            "webhook deliveries still pending at shutdown",
            deliveries=len(deliveries),
            events=sum(len(d.events) for d in deliveries),
            left_for="another node" if self._shared else "nobody: recorded as failed",
        )
        if self._shared:
            return
        failed = [
            replace(d, status="failed", next_attempt_at=None, error="the server stopped first")
            for d in deliveries
        ]
        self.stats.failed += len(failed)
        with contextlib.suppress(TidingsError):
            await self.store.put(failed)

    async def _settled_once(self) -> None:
        self._progress = asyncio.get_running_loop().create_future()
        await self._progress

    # -- the listener (on the core's paths: no await, no I/O) -------------------

    def _on_event(self, event: Source) -> None:
        app_id: str = event.app_id
        hooks = self.hooks.get(app_id)
        if not hooks:
            return
        if self.intercept is not None and self.intercept(event, hooks):
            return
        urls = _urls(hooks, event.name, event.channel)
        if urls:  # the payload is built only for an event some webhook wants
            payload = webhook_event(event)
            if payload is not None:
                self._queue(app_id, payload, urls)

    def offer(self, app_id: str, payload: WebhookEvent, hooks: Sequence[Webhook]) -> None:
        """Queue one webhook event for the app's hooks that want it (never blocks)."""
        urls = _urls(hooks, payload["name"], payload["channel"])
        if urls:
            self._queue(app_id, payload, urls)

    def _queue(self, app_id: str, payload: WebhookEvent, urls: list[str]) -> None:
        now = self.clock()
        if self.batcher.offer(app_id, payload, urls, now):
            if not self._wake.is_set():
                self._wake.set()
            return
        self.stats.dropped[app_id] = self.stats.dropped.get(app_id, 0) + 1
        if now - self._dropped_logged.get(app_id, 0.0) >= _DROP_LOG_EVERY_S:
            self._dropped_logged[app_id] = now
            log.warning(
                "webhook queue full; events dropped",
                app_id=app_id,
                dropped_total=self.stats.dropped[app_id],
                limit=self.batcher.limit,
                hint="the receiver is slow or down; raise webhook_queue_limit if it catches up",
            )

    # -- apps ------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read every app's webhooks."""
        apps = [app for app in await self.apps.all() if app.webhooks]
        self.hooks = {app.id: app.webhooks for app in apps}
        self._headers = {app.id: headers_by_url(app.webhooks) for app in apps}

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(_REFRESH_S)
            try:
                await self.refresh()
            except TidingsError as exc:
                log.warning("webhooks: apps not re-read", reason=exc.message)

    # -- deliveries ------------------------------------------------------------

    def adopt(self, deliveries: Sequence[Delivery]) -> None:
        """Take deliveries over (from a dead node, or this node's previous life): due now."""
        now = self.clock()
        for delivery in deliveries:
            if delivery.id in self._pending:
                continue
            delivery = replace(delivery, node=self.node_id)
            self._pending[delivery.id] = delivery
            self.batcher.hold(delivery.app_id, len(delivery.events))
            self._schedule(delivery, now)
        self._wake.set()

    def pending(self) -> list[Delivery]:
        """This node's unsettled deliveries."""
        return list(self._pending.values())

    async def recent(self, app_id: str, limit: int) -> list[Delivery]:
        """The app's latest deliveries, newest first (every node's, with a shared store)."""
        return await self.store.recent(app_id, limit)

    async def redeliver(self, app_id: str, delivery_id: str) -> Delivery | None:
        """Send a logged delivery's events again, as a new delivery; ``None`` if unknown."""
        old = await self.store.get(app_id, delivery_id)
        if old is None:
            return None
        now = self.clock()
        new = Delivery(
            id=new_delivery_id(now),
            app_id=old.app_id,
            url=old.url,
            events=old.events,
            created_at=now,
            headers=old.headers,
            first_event_at=now,
            node=self.node_id,
            redelivery_of=old.id,
        )
        await self.store.put([new])
        self.batcher.hold(app_id, len(new.events))
        self._pending[new.id] = new
        self._schedule(new, now)
        self._wake.set()
        return new

    def _schedule(self, delivery: Delivery, at: float) -> None:
        # A delivery is due once, at its latest time: older heap entries are skipped.
        self._seq += 1
        self._when[delivery.id] = at
        heapq.heappush(self._due, (at, self._seq, delivery.id))

    async def _dispatch(self) -> None:
        while True:
            try:
                await self._dispatch_once()
            except TidingsError as exc:
                log.warning("webhooks: store unreachable; retrying", reason=exc.message)
                await asyncio.sleep(_STORE_RETRY_S)
                continue
            await self._wait()

    async def _dispatch_once(self) -> None:
        now = self.clock()
        ready = self.batcher.take(now, everything=self._closing)
        if ready:
            made = [
                Delivery(
                    id=new_delivery_id(now),
                    app_id=b.app_id,
                    url=b.url,
                    events=tuple(b.events),
                    created_at=now,
                    headers=self._headers.get(b.app_id, {}).get(b.url, ()),
                    first_event_at=b.first_at,
                    node=self.node_id,
                )
                for b in ready
            ]
            for delivery in made:
                self._pending[delivery.id] = delivery
                self._schedule(delivery, now)
            try:
                await self.store.put(made)
            except TidingsError as exc:
                # Sent from memory all the same; only a takeover needs the store.
                log.warning(
                    "webhooks: deliveries not recorded", count=len(made), reason=exc.message
                )
        while self._due and self._due[0][0] <= now and len(self._in_flight) < self._max_in_flight:
            at, _, delivery_id = heapq.heappop(self._due)
            due = self._pending.get(delivery_id)
            if due is None or self._when.get(delivery_id) != at:
                continue
            del self._when[delivery_id]
            task = asyncio.get_running_loop().create_task(self._attempt(due))
            self._in_flight[delivery_id] = task

    async def _wait(self) -> None:
        now = self.clock()
        times = []
        batch_due = self.batcher.next_due()
        if batch_due is not None:
            times.append(batch_due)
        if self._due and len(self._in_flight) < self._max_in_flight:
            times.append(self._due[0][0])  # else a finishing attempt wakes the loop
        timeout = max(min(times) - now, 0.0) if times else None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            try:
                attempt = await post_attempt(self.apps, self.sender, delivery, self.clock)
            except Exception as exc:  # a bug must not leave the delivery stuck
                log.exception("webhook attempt raised", delivery_id=delivery.id)
                attempt = Attempt(None, f"internal error: {type(exc).__name__}", 0.0)
            done = after_attempt(delivery, attempt, self.clock())
            account_attempt(self.stats, done, attempt, self.clock)
            # Recorded before it leaves the pending set: whoever sees it settled can read it.
            await record_delivery(self.store, done)
            if done.settled:
                self._pending.pop(done.id, None)
                self.batcher.release(done.app_id, len(done.events))
            else:
                self._pending[done.id] = done
                assert done.next_attempt_at is not None
                self._schedule(done, done.next_attempt_at)
        finally:
            self._in_flight.pop(delivery.id, None)
            self._wake.set()
            progress = self._progress
            if progress is not None and not progress.done():
                progress.set_result(None)


def _urls(hooks: Sequence[Webhook], name: str, channel: str) -> list[str]:
    """The distinct URLs of the hooks that want this event (none for internal channels)."""
    if is_internal(channel):  # the server's own channels are nobody's business
        return []
    urls = [hook.url for hook in hooks if hook.matches(name, channel)]
    if len(urls) > 1:
        urls = list(dict.fromkeys(urls))  # one URL, one copy of the event
    return urls
