"""What the server logs about its clients: debug lines per event, info summaries.

At ``debug``, one line per connection opened or closed (socket id, app, remote
address, close code), subscribe result, refusal (with the reason the client was
told), protocol error sent, refused API request and API publish (channel,
event, size: never the data or a secret). These listeners are added only when
the ``tidings.events`` logger is enabled for debug at start-up, so at ``info``
the bus does not even build those events on busy paths.

At ``info``, ``run_summaries`` logs one line per interval with the totals of
that interval (connections opened and closed, API events, client events,
deliveries, refusals), skipped when nothing happened. Nothing is ever logged
per subscriber or per delivered frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

import structlog

from tidings.admin.counters import EventCounters
from tidings.core.bus import EventBus
from tidings.domain import events
from tidings.web.state import ServerState

__all__ = ["SUMMARY_INTERVAL_S", "attach_debug_log", "run_summaries", "summary_fields"]

#: Seconds between two info summaries.
SUMMARY_INTERVAL_S: Final = 60.0

log = structlog.get_logger("tidings.events")


def _opened(event: events.ConnectionOpened) -> None:
    log.debug(
        "connection opened",
        socket_id=event.socket_id,
        app_id=event.app_id,
        wire=event.wire,
        remote=event.remote,
    )


def _closed(event: events.ConnectionClosed) -> None:
    log.debug(
        "connection closed",
        socket_id=event.socket_id,
        app_id=event.app_id,
        wire=event.wire,
        code=event.code,
    )


def _subscribed(event: events.Subscribed) -> None:
    log.debug("subscribed", socket_id=event.socket_id, app_id=event.app_id, channel=event.channel)


def _refused(event: events.SubscriptionRefused) -> None:
    log.debug(
        "subscription refused",
        socket_id=event.socket_id,
        app_id=event.app_id,
        channel=event.channel,
        reason=event.reason,
    )


def _unsubscribed(event: events.Unsubscribed) -> None:
    log.debug("unsubscribed", socket_id=event.socket_id, app_id=event.app_id, channel=event.channel)


def _error(event: events.ErrorSent) -> None:
    log.debug(
        "error sent to client",
        socket_id=event.socket_id,
        app_id=event.app_id,
        code=event.code,
        reason=event.message,
    )


def _api_refused(event: events.ApiRequestRefused) -> None:
    log.debug(
        "api request refused",
        app_id=event.app_id,
        method=event.method,
        endpoint=event.endpoint,
        status=event.status,
        reason=event.error,
    )


def _published(event: events.Published) -> None:
    log.debug(
        "api publish",
        app_id=event.app_id,
        channel=event.channel,
        event_name=event.event,
        size=event.size,
    )


def attach_debug_log(bus: EventBus) -> Callable[[], None]:
    """Log each client-facing event at debug, if ``tidings.events`` is enabled for debug.

    Returns:
        A function that removes the listeners (a no-op when none were added).
    """
    if not logging.getLogger("tidings.events").isEnabledFor(logging.DEBUG):
        return lambda: None
    removers = [
        bus.on(events.ConnectionOpened, _opened),
        bus.on(events.ConnectionClosed, _closed),
        bus.on(events.Subscribed, _subscribed),
        bus.on(events.SubscriptionRefused, _refused),
        bus.on(events.Unsubscribed, _unsubscribed),
        bus.on(events.ErrorSent, _error),
        bus.on(events.ApiRequestRefused, _api_refused),
        bus.on(events.Published, _published),
    ]

    def remove() -> None:
        for remover in removers:
            remover()

    return remove


def _sum(table: dict[tuple[str, ...], int]) -> int:
    return sum(table.values())


def summary_fields(state: ServerState, counters: EventCounters) -> dict[str, int]:
    """The running totals the info summary reports differences of."""
    return {
        "connections_opened": _sum(counters.opened),
        "connections_closed": _sum(counters.closed),
        "api_events": _sum(counters.api_events),
        "client_events": _sum(counters.client_events),
        "deliveries": state.node.stats.deliveries,
        "subscriptions_refused": _sum(counters.refused),
        "errors_sent": _sum(counters.errors),
    }


async def run_summaries(
    state: ServerState, counters: EventCounters, interval: float = SUMMARY_INTERVAL_S
) -> None:
    """Every ``interval`` seconds, log at info what happened since the last line.

    Runs until cancelled.
    """
    before = summary_fields(state, counters)
    while True:
        await asyncio.sleep(interval)
        now = summary_fields(state, counters)
        delta = {name: now[name] - before[name] for name in now}
        before = now
        if any(delta.values()):
            log.info(
                "activity",
                interval_s=interval,
                connections=len(state.connections),
                **delta,
            )
