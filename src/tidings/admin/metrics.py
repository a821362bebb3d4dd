"""Prometheus metrics: live state read at scrape time, totals kept as plain integers.

Nothing is counted per subscriber: gauges (connections, channels, presence
members, broker state) are computed when Prometheus scrapes; counters come from
the node's stats (per publication), the writer's traffic totals (per flush),
``ServerState.http`` (per request) and ``EventCounters`` (per lifecycle event).
The table of every series is in docs/observability.md; the Grafana dashboard in
``deploy/grafana/tidings.json`` uses only these names (a test checks it).

Every family has a sample from the first scrape, whatever the broker and
before any traffic, so no dashboard panel says "No data" on a fresh server:
per-app families list every app the node serves (0 until it has traffic;
so the series count is apps x families), the HTTP API families start with the
publish endpoint at 0, and the broker reports 0 reconnects and a round trip of
0 until it has measured one (the in-memory broker has none to measure).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tidings.admin.counters import EventCounters
from tidings.domain.channels import ChannelKind, channel_kind
from tidings.typing import AppId
from tidings.version import __version__
from tidings.web.state import ServerState
from tidings.web.stats import LATENCY_BUCKETS

__all__ = ["MetricsExporter"]

#: The endpoint the HTTP API families show at 0 before any request.
_PUBLISH = "/apps/{app_id}/events"
#: Wire names, for the zero series of ``tidings_connections_opened_total``.
_WIRES = ("pusher", "piesocket")


def _counter(
    name: str,
    doc: str,
    labels: Iterable[str],
    table: Mapping[tuple[str, ...], int],
    zeros: Iterable[tuple[str, ...]] = (),
) -> CounterMetricFamily:
    """A labelled counter from ``table``, with a 0 for each key of ``zeros`` it lacks."""
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted({**dict.fromkeys(zeros, 0), **table}.items()):
        family.add_metric(list(key), value)
    return family


def _total(name: str, doc: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


class _StateCollector(Collector):
    def __init__(self, state: ServerState, counters: EventCounters) -> None:
        self._state = state
        self._counters = counters
        #: The ids of the apps the node serves, as of this scrape (set before ``collect``).
        self.served: tuple[AppId, ...] = ()

    def collect(self) -> Iterator[Metric]:
        yield from self._live()
        yield from self._websocket()
        yield from self._http()
        yield from self._broker()
        yield from self._history()
        info = GaugeMetricFamily(
            "tidings_info", "Always 1: the version and node id", labels=["version", "node_id"]
        )
        info.add_metric([__version__, self._state.node.node_id], 1)
        yield info

    def _live(self) -> Iterator[Metric]:
        node = self._state.node
        connections = GaugeMetricFamily(
            "tidings_connections", "Open client connections on this node", labels=["app_id"]
        )
        channels = GaugeMetricFamily(
            "tidings_channels", "Occupied channels on this node", labels=["app_id"]
        )
        members = GaugeMetricFamily(
            "tidings_presence_members",
            "Members of the presence channels this node has subscribers on",
            labels=["app_id"],
        )
        counts: dict[AppId, int] = {**dict.fromkeys(self.served, 0), **node.registry.counts()}
        for app_id, count in sorted(counts.items()):
            occupied = node.hub.channels(app_id)
            connections.add_metric([app_id], count)
            channels.add_metric([app_id], len(occupied))
            present = 0
            for channel in occupied:
                if channel_kind(channel) is ChannelKind.PRESENCE:
                    roster = node.presence.roster(app_id, channel)
                    present += len(roster) if roster is not None else 0
            members.add_metric([app_id], present)
        yield connections
        yield channels
        yield members

    def _websocket(self) -> Iterator[Metric]:
        counters = self._counters
        traffic = self._state.flusher.traffic
        stats = self._state.node.stats
        apps = [(app_id,) for app_id in self.served]
        yield _counter(
            "tidings_connections_opened",
            "Client connections accepted",
            ("app_id", "wire"),
            counters.opened,
            [(app_id, wire) for app_id in self.served for wire in _WIRES],
        )
        yield _counter(
            "tidings_connections_closed",
            "Client connections closed, by the close code the server sent ('' = client closed)",
            ("app_id", "wire", "code"),
            counters.closed,
            [(app_id, wire, "") for app_id in self.served for wire in _WIRES],
        )
        yield _total(
            "tidings_websocket_messages_received",
            "WebSocket messages from clients",
            traffic.frames_in,
        )
        yield _total(
            "tidings_websocket_received_bytes",
            "Bytes read from client WebSockets (frame headers included)",
            traffic.bytes_in,
        )
        yield _total(
            "tidings_websocket_messages_sent",
            "WebSocket frames written to clients",
            traffic.frames_out,
        )
        yield _total(
            "tidings_websocket_sent_bytes", "Bytes written to client WebSockets", traffic.bytes_out
        )
        yield _total(
            "tidings_publications",
            "Messages this node fanned out to its subscribers",
            stats.publications,
        )
        yield _total("tidings_deliveries", "Frames queued to local subscribers", stats.deliveries)
        yield _counter(
            "tidings_api_events",
            "Events published through the HTTP APIs",
            ("app_id",),
            counters.api_events,
            apps,
        )
        yield _counter(
            "tidings_api_event_data_bytes",
            "Size of the data of events published through the HTTP APIs",
            ("app_id",),
            counters.api_event_bytes,
            apps,
        )
        yield _counter(
            "tidings_client_events",
            "Client events relayed",
            ("app_id",),
            counters.client_events,
            apps,
        )
        yield _counter(
            "tidings_subscriptions",
            "Channel subscriptions made",
            ("app_id",),
            counters.subscriptions,
            apps,
        )
        yield _counter(
            "tidings_subscriptions_refused",
            "Channel subscriptions refused (bad auth, full presence channel, ...)",
            ("app_id",),
            counters.refused,
            apps,
        )
        yield _counter(
            "tidings_presence_members_added",
            "Presence members added (announced by this node)",
            ("app_id",),
            counters.members_added,
            apps,
        )
        yield _counter(
            "tidings_presence_members_removed",
            "Presence members removed (announced by this node)",
            ("app_id",),
            counters.members_removed,
            apps,
        )
        yield _counter(
            "tidings_client_errors",
            "Protocol errors sent to clients",
            ("app_id",),
            counters.errors,
            apps,
        )
        yield _counter(
            "tidings_rate_limited",
            "Requests and client events refused by a rate limit",
            ("source",),
            counters.rate_limited,
        )
        yield _total(
            "tidings_slow_consumers",
            "Connections cut as slow consumers (4100)",
            counters.slow_consumers,
        )

    def _http(self) -> Iterator[Metric]:
        http = self._state.http
        requests = CounterMetricFamily(
            "tidings_http_requests",
            "HTTP requests on the main listener",
            labels=["endpoint", "method", "status"],
        )
        seen = {(_PUBLISH, "POST", 200): 0, **http.requests}
        for (endpoint, method, status), count in sorted(seen.items()):
            requests.add_metric([endpoint, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "tidings_http_request_duration_seconds",
            "Time to answer HTTP requests on the main listener",
            labels=["endpoint"],
        )
        empty = [0] * (len(LATENCY_BUCKETS) + 1)
        for endpoint, buckets in sorted({_PUBLISH: empty, **http.latency}.items()):
            cumulative, points = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), buckets, strict=True):
                cumulative += count
                points.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
            latency.add_metric([endpoint], points, http.latency_sum.get(endpoint, 0.0))
        yield latency

    def _broker(self) -> Iterator[Metric]:
        broker = self._state.node.broker
        yield _gauge(
            "tidings_broker_up", "1 when the broker is reachable", 1 if broker.healthy else 0
        )
        # A broker with no outages or round trips to measure (the in-memory one)
        # reports 0 for both, as does a Redis broker before its first health PING.
        reconnects = getattr(broker, "reconnects", None)
        yield _total(
            "tidings_broker_reconnects",
            "Broker recoveries after an outage",
            reconnects if isinstance(reconnects, int) else 0,
        )
        round_trip = getattr(broker, "round_trip", None)
        yield _gauge(
            "tidings_broker_round_trip_seconds",
            "Time the broker's last health PING took (0: none measured yet, or in-memory)",
            round_trip if isinstance(round_trip, float) else 0.0,
        )

    def _history(self) -> Iterator[Metric]:
        node = self._state.node
        recoveries, sequencer = node.recoveries, node.sequencer.stats
        outcomes: dict[tuple[str, ...], int] = {
            ("recovered",): recoveries.recovered,
            ("not_recovered",): recoveries.not_recovered,
        }
        yield _counter(
            "tidings_history_recoveries",
            "Subscribes that asked for a recovery, by outcome",
            ["outcome"],
            outcomes,
        )
        yield _total(
            "tidings_history_events_replayed",
            "Kept events replayed to recovering subscribers",
            recoveries.replayed,
        )
        yield _total(
            "tidings_history_gaps_repaired",
            "Gap repairs this node ran (a skipped serial seen, or a broker reconnect)",
            sequencer.gaps_repaired,
        )
        yield _total(
            "tidings_history_events_repaired",
            "Kept events a gap repair delivered from history",
            sequencer.events_repaired,
        )
        yield _total(
            "tidings_history_events_lost",
            "Serials a gap repair could not get back (no longer kept)",
            sequencer.lost,
        )
        store = getattr(node.broker, "history_store", None)
        yield _gauge(
            "tidings_history_bytes",
            "Bytes of kept history in this process (in-memory broker; on Redis: Redis's memory)",
            getattr(store, "bytes", 0),
        )


class MetricsExporter:
    """This server's metrics (one per server, so tests can run several).

    The process's CPU, memory and file descriptors come with them (``process_*``).

    Args:
        state: the server whose figures are exported.
        counters: its lifecycle event totals.
    """

    def __init__(self, state: ServerState, counters: EventCounters) -> None:
        self._state = state
        self._collector = _StateCollector(state, counters)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self._collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    async def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric, as of now."""
        apps = await self._state.node.apps.all()
        self._collector.served = tuple(AppId(app.id) for app in apps)
        return generate_latest(self.registry)
