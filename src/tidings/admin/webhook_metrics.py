"""Webhook metrics, read from the service's plain counters at scrape time.

- ``tidings_webhook_deliveries_total{outcome}``: ``sent`` (2xx), ``failed`` (given
  up), ``retrying`` (failed attempts that will be retried);
- ``tidings_webhook_queue_depth{app_id}``: events waiting (batched or in
  unsettled deliveries);
- ``tidings_webhook_events_dropped_total{app_id}``: events refused, queue full;
- ``tidings_webhook_delivery_seconds``: from a batch's first event to its 2xx.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from tidings.webhooks.service import WebhookService
from tidings.webhooks.stats import LATENCY_BUCKETS

__all__ = ["WebhookCollector"]


class WebhookCollector(Collector):
    """The metrics of one node's :class:`WebhookService`."""

    def __init__(self, service: WebhookService) -> None:
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        stats = self._service.stats
        outcomes = CounterMetricFamily(
            "tidings_webhook_deliveries",
            "Webhook deliveries by outcome (retrying: failed attempts to be retried)",
            labels=["outcome"],
        )
        outcomes.add_metric(["sent"], stats.sent)
        outcomes.add_metric(["failed"], stats.failed)
        outcomes.add_metric(["retrying"], stats.retrying)
        yield outcomes
        depth = GaugeMetricFamily(
            "tidings_webhook_queue_depth", "Webhook events waiting on this node", labels=["app_id"]
        )
        for app_id, count in sorted(self._service.batcher.depth().items()):
            depth.add_metric([app_id], count)
        yield depth
        dropped = CounterMetricFamily(
            "tidings_webhook_events_dropped",
            "Webhook events dropped because the app's queue was full",
            labels=["app_id"],
        )
        for app_id, count in sorted(stats.dropped.items()):
            dropped.add_metric([app_id], count)
        yield dropped
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(
            (*LATENCY_BUCKETS, float("inf")), stats.latency_counts, strict=True
        ):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        latency = HistogramMetricFamily(
            "tidings_webhook_delivery_seconds",
            "Seconds from a webhook batch's first event to the receiver's 2xx",
        )
        latency.add_metric([], buckets, sum_value=stats.latency_sum)
        yield latency
