"""Prometheus metrics, read from live state at scrape time.

Nothing is counted per subscriber on the hot path: gauges are computed when
Prometheus scrapes, and the only counters are the node's plain integers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tidings.typing import AppId
from tidings.web.state import ServerState

__all__ = ["metrics_registry"]


class _StateCollector(Collector):
    def __init__(self, state: ServerState) -> None:
        self._state = state

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = self._state
        node = state.node
        connections = GaugeMetricFamily(
            "tidings_connections", "Open client connections on this node", labels=["app_id"]
        )
        channels = GaugeMetricFamily(
            "tidings_channels", "Occupied channels on this node", labels=["app_id"]
        )
        per_app: dict[str, int] = {}
        for conn in state.connections:
            per_app[conn.app.id] = per_app.get(conn.app.id, 0) + 1
        for app_id, count in sorted(per_app.items()):
            connections.add_metric([app_id], count)
            channels.add_metric([app_id], len(node.hub.channels(AppId(app_id))))
        yield connections
        yield channels
        published = CounterMetricFamily(
            "tidings_publications", "Publications received from the broker by this node"
        )
        published.add_metric([], node.stats.publications)
        yield published
        delivered = CounterMetricFamily(
            "tidings_deliveries", "Frames queued to local subscribers by this node"
        )
        delivered.add_metric([], node.stats.deliveries)
        yield delivered
        broker_up = GaugeMetricFamily("tidings_broker_up", "1 when the broker is reachable")
        broker_up.add_metric([], 1 if node.broker.healthy else 0)
        yield broker_up


def metrics_registry(state: ServerState) -> CollectorRegistry:
    """A registry of this server's metrics (one per server, so tests can run several)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StateCollector(state))
    return registry
