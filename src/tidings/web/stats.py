"""HTTP API request totals and latencies of one server, for the metrics.

Plain dictionaries updated once per HTTP request (``tidings.http.observe``);
the admin listener turns them into Prometheus series when it is scraped. The
WebSocket traffic totals are ``tidings.web.writer.Traffic``.
"""

from __future__ import annotations

import bisect
from typing import Final

__all__ = ["LATENCY_BUCKETS", "HttpStats"]

#: Upper bounds (seconds) of the request latency histogram's buckets.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpStats:
    """Requests by (endpoint, method, status) and a latency histogram per endpoint.

    ``endpoint`` is the route's pattern (``/apps/{app_id}/events``), so the number
    of series is bounded by the routes, never by what clients send.
    """

    __slots__ = ("latency", "latency_sum", "requests")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        #: endpoint -> count per bucket (not cumulative), the last one for +Inf.
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}

    def record(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request that took ``seconds``."""
        key = (endpoint, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        buckets = self.latency.get(endpoint)
        if buckets is None:
            buckets = self.latency[endpoint] = [0] * (len(LATENCY_BUCKETS) + 1)
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum[endpoint] = self.latency_sum.get(endpoint, 0.0) + seconds

    def status_count(self, status: int) -> int:
        """Requests answered with ``status``, over every endpoint."""
        return sum(n for (_, _, code), n in self.requests.items() if code == status)
