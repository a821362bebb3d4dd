"""Running totals of webhook deliveries, read by the metrics endpoint at scrape time."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Final

__all__ = ["LATENCY_BUCKETS", "WebhookStats"]

LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Upper bounds (seconds) of the delivery latency histogram; +Inf is implied."""


@dataclass(slots=True)
class WebhookStats:
    """Counters of one node.

    Attributes:
        sent: deliveries a receiver accepted (2xx).
        failed: deliveries given up on.
        retrying: failed attempts that will be retried.
        dropped: events refused per app because its queue was full.
        latency_counts: deliveries per bucket of :data:`LATENCY_BUCKETS` (+Inf last),
            latency being from the batch's first event to the 2xx.
        latency_sum: the sum of those latencies.
    """

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0

    def observe(self, seconds: float) -> None:
        """Count one delivered batch that took ``seconds`` from its first event."""
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
