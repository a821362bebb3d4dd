"""Event totals for the metrics, and the HTTP latency histogram."""

from __future__ import annotations

from tidings.admin.counters import EventCounters
from tidings.core.bus import EventBus
from tidings.domain import events
from tidings.typing import AppId, SocketId
from tidings.web.stats import LATENCY_BUCKETS, HttpStats

APP, SID = AppId("1"), SocketId("1.1")


def test_close_codes_slow_consumers_and_rate_limits() -> None:
    bus = EventBus()
    counters = EventCounters(bus)
    bus.emit(events.ConnectionClosed(APP, SID, "pusher", 4100))
    bus.emit(events.ConnectionClosed(APP, SID, "pusher", None))
    bus.emit(events.ErrorSent(APP, SID, 4301, "Client event rejected due to rate limit: ..."))
    bus.emit(events.ErrorSent(APP, SID, 4301, "Client event rejected - not subscribed"))
    bus.emit(events.ErrorSent(APP, SID, None, "Rate limit: at most 10 messages per second"))
    bus.emit(events.ApiRequestRefused(APP, "POST", "/apps/{app_id}/events", 429, "rate limit"))
    bus.emit(events.ApiRequestRefused(APP, "POST", "/apps/{app_id}/events", 401, "signature"))
    assert counters.closed == {("1", "pusher", "4100"): 1, ("1", "pusher", ""): 1}
    assert counters.slow_consumers == 1
    assert counters.errors == {("1",): 3}
    assert counters.rate_limited == {("client_events",): 2, ("http_api",): 1}
    counters.close()
    bus.emit(events.ConnectionClosed(APP, SID, "pusher", 4100))
    assert counters.slow_consumers == 1
    assert not bus.wants(events.ConnectionClosed)


def test_latency_buckets() -> None:
    stats = HttpStats()
    stats.record("/e", "POST", 200, 0.0005)
    stats.record("/e", "POST", 200, LATENCY_BUCKETS[0])  # on a bound: that bucket (le)
    stats.record("/e", "POST", 500, 99.0)
    buckets = stats.latency["/e"]
    assert buckets[0] == 2 and buckets[-1] == 1 and sum(buckets) == 3
    assert stats.requests == {("/e", "POST", 200): 2, ("/e", "POST", 500): 1}
    assert stats.status_count(200) == 2
