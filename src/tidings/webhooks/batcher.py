"""Batching per app and URL, with a bounded queue per app. Pure: the caller passes the time.

An event goes to every URL of its app whose webhook wants it; webhooks sharing
a URL share one batch (the event appears once, with the headers of all of them:
:func:`headers_by_url`). A batch is ready when it holds
``max_batch`` events or its oldest event waited ``window`` seconds.

The bound: an app may hold ``limit`` events waiting, counting both the events
still being batched and those in deliveries not yet settled (the caller
:meth:`Batcher.release`\\ s them). Beyond that new events are dropped and
counted, never queued: a dead receiver costs bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tidings.apps.webhooks import Webhook
from tidings.webhooks.payloads import WebhookEvent

__all__ = ["Batch", "Batcher", "headers_by_url"]


@dataclass(slots=True)
class Batch:
    """Events waiting for one app and URL."""

    app_id: str
    url: str
    first_at: float
    events: list[WebhookEvent] = field(default_factory=list)


def headers_by_url(hooks: Sequence[Webhook]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The extra headers of each URL: those of every webhook with that URL, in order."""
    merged: dict[str, dict[str, str]] = {}
    for hook in hooks:
        merged.setdefault(hook.url, {}).update(hook.headers)
    return {url: tuple(headers.items()) for url, headers in merged.items()}


class Batcher:
    """Per-(app, URL) batches and per-app counts of waiting events.

    Args:
        window: seconds the oldest event of a batch may wait.
        max_batch: events in one delivery.
        limit: events one app may hold waiting (batched or in unsettled deliveries).
    """

    def __init__(self, *, window: float, max_batch: int, limit: int) -> None:
        self.window = window
        self.max_batch = max_batch
        self.limit = limit
        self._batches: dict[tuple[str, str], Batch] = {}
        self._depth: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self._full = False

    def offer(self, app_id: str, event: WebhookEvent, urls: Sequence[str], now: float) -> bool:
        """Queue ``event`` for each of ``urls`` (distinct: the webhooks that want it).

        Returns:
            ``False`` when the app's queue was full: the event was dropped and counted.
        """
        depth = self._depth.get(app_id, 0) + len(urls)
        if depth > self.limit:
            self.dropped[app_id] = self.dropped.get(app_id, 0) + 1
            return False
        self._depth[app_id] = depth
        batches = self._batches
        for url in urls:
            batch = batches.get((app_id, url))
            if batch is None:
                batch = batches[app_id, url] = Batch(app_id, url, now)
            batch.events.append(event)
            if len(batch.events) >= self.max_batch:
                self._full = True
        return True

    def next_due(self) -> float | None:
        """When the oldest batch is ready (``-inf`` if one is full now), ``None`` if none waits."""
        if not self._batches:
            return None
        if self._full:
            return float("-inf")
        return min(b.first_at for b in self._batches.values()) + self.window

    def take(self, now: float, *, everything: bool = False) -> list[Batch]:
        """The ready batches (or all of them), split into chunks of ``max_batch`` events."""
        ready: list[Batch] = []
        for key, batch in list(self._batches.items()):
            full = len(batch.events) >= self.max_batch
            if everything or full or now >= batch.first_at + self.window:
                del self._batches[key]
                for start in range(0, len(batch.events), self.max_batch):
                    chunk = batch.events[start : start + self.max_batch]
                    ready.append(Batch(batch.app_id, batch.url, batch.first_at, chunk))
        self._full = any(len(b.events) >= self.max_batch for b in self._batches.values())
        return ready

    def hold(self, app_id: str, count: int) -> None:
        """Count ``count`` more waiting events for ``app_id`` (deliveries taken over or
        redelivered), even beyond the limit: they exist already."""
        self._depth[app_id] = self._depth.get(app_id, 0) + count

    def release(self, app_id: str, count: int) -> None:
        """``count`` events of ``app_id`` no longer wait (their delivery settled)."""
        left = self._depth.get(app_id, 0) - count
        if left > 0:
            self._depth[app_id] = left
        else:
            self._depth.pop(app_id, None)

    def depth(self) -> dict[str, int]:
        """Waiting events per app (batched or in unsettled deliveries)."""
        return dict(self._depth)
