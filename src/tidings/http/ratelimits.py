"""Per-app request budgets of the HTTP API (429 with ``Retry-After`` over them).

Budgets are per app and per process: with ``--workers N`` or N nodes the cluster
accepts up to N times the rate (a proxy limits per client address; see docs/security.md).
They are only spent by correctly signed requests (``tidings.http.guard`` checks the
signature first), so nobody without the secret can use up a backend's allowance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from tidings.apps.base import App
from tidings.errors import RateLimitError
from tidings.protocol.ratelimit import TokenBucket
from tidings.typing import AppId

__all__ = ["RateLimits"]


class RateLimits:
    """Per-app token buckets for backend events and for reads, made on first use.

    A bucket follows its app's current rate: an app whose limit changed gets a new one.

    Args:
        clock: a monotonic clock in seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[AppId, str], TokenBucket] = {}

    def charge_events(self, app: App, count: int) -> None:
        """Spend ``count`` backend events of ``app``'s budget.

        Raises:
            RateLimitError: over ``max_backend_events_per_second``.
        """
        rate = app.max_backend_events_per_second
        if rate and not self._bucket(app.id, "events", rate).allow(count):
            raise RateLimitError(
                f"rate limit: app {app.id} may publish {rate} events per second "
                "(max_backend_events_per_second)",
                hint="publish less often or batch events, wait for Retry-After seconds, "
                "or raise the app's max_backend_events_per_second",
                retry_after=self._retry_after(app.id, "events"),
            )

    def charge_read(self, app: App) -> None:
        """Spend one read of ``app``'s budget.

        Raises:
            RateLimitError: over ``max_read_requests_per_second``.
        """
        rate = app.max_read_requests_per_second
        if rate and not self._bucket(app.id, "reads", rate).allow():
            raise RateLimitError(
                f"rate limit: app {app.id} may make {rate} read requests per second "
                "(max_read_requests_per_second)",
                hint="cache channel lists and counts (webhooks tell you when they change), "
                "wait for Retry-After seconds, or raise the app's max_read_requests_per_second",
                retry_after=self._retry_after(app.id, "reads"),
            )

    def _bucket(self, app_id: AppId, kind: str, rate: int) -> TokenBucket:
        bucket = self._buckets.get((app_id, kind))
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[(app_id, kind)] = TokenBucket(rate, self._clock)
        return bucket

    def _retry_after(self, app_id: AppId, kind: str) -> int:
        return max(1, math.ceil(self._buckets[(app_id, kind)].retry_after()))
