"""Totals counted from the node's lifecycle events, for the metrics and the summary log.

Each listener runs once per event (a connection, a subscribe, an API publish, a
client event), never once per subscriber, and only adds to a plain integer or
dictionary entry. Label values are bounded: app ids, wire names, close codes,
the source of a refusal.
"""

from __future__ import annotations

from collections.abc import Callable

from tidings.core.bus import EventBus
from tidings.domain import events

__all__ = ["SLOW_CONSUMER_CODE", "EventCounters"]

#: The close code of a connection cut as a slow consumer (``web.connection``).
SLOW_CONSUMER_CODE = 4100


def _add(table: dict[tuple[str, ...], int], key: tuple[str, ...], amount: int = 1) -> None:
    table[key] = table.get(key, 0) + amount


def _is_rate_limit(message: str) -> bool:
    # Both wires say so in the text they send (Pusher's 4301 is also used for
    # other client-event refusals, and v3 errors have no code).
    return "rate limit" in message.lower()


class EventCounters:
    """Running totals by label, from the bus (``close()`` stops counting).

    Attributes:
        opened: (app_id, wire) -> connections opened.
        closed: (app_id, wire, code) -> connections closed; code ``""`` when the
            client closed first.
        api_events / api_event_bytes: (app_id,) -> events published through the
            HTTP APIs, and the size of their data.
        client_events: (app_id,) -> client events relayed.
        subscriptions / refused: (app_id,) -> subscriptions made and refused.
        members_added / members_removed: (app_id,) -> presence changes (cluster-wide,
            counted by the node that announced them).
        errors: (app_id,) -> protocol errors sent to clients.
        rate_limited: (source,) -> requests or client events refused by a rate
            limit; source ``http_api`` or ``client_events``.
        slow_consumers: connections cut with 4100.
    """

    def __init__(self, bus: EventBus) -> None:
        self.opened: dict[tuple[str, ...], int] = {}
        self.closed: dict[tuple[str, ...], int] = {}
        self.api_events: dict[tuple[str, ...], int] = {}
        self.api_event_bytes: dict[tuple[str, ...], int] = {}
        self.client_events: dict[tuple[str, ...], int] = {}
        self.subscriptions: dict[tuple[str, ...], int] = {}
        self.refused: dict[tuple[str, ...], int] = {}
        self.members_added: dict[tuple[str, ...], int] = {}
        self.members_removed: dict[tuple[str, ...], int] = {}
        self.errors: dict[tuple[str, ...], int] = {}
        # Both sources from the start, so a dashboard shows 0 rather than no data.
        self.rate_limited: dict[tuple[str, ...], int] = {("client_events",): 0, ("http_api",): 0}
        self.slow_consumers = 0
        self._removers: list[Callable[[], None]] = [
            bus.on(events.ConnectionOpened, self._opened),
            bus.on(events.ConnectionClosed, self._closed),
            bus.on(events.Published, self._published),
            bus.on(events.ClientEventSent, self._client_event),
            bus.on(events.Subscribed, self._subscribed),
            bus.on(events.SubscriptionRefused, self._refused),
            bus.on(events.MemberAdded, self._member_added),
            bus.on(events.MemberRemoved, self._member_removed),
            bus.on(events.ErrorSent, self._error),
            bus.on(events.ApiRequestRefused, self._api_refused),
        ]

    def close(self) -> None:
        """Stop listening."""
        for remove in self._removers:
            remove()
        self._removers = []

    def _opened(self, event: events.ConnectionOpened) -> None:
        _add(self.opened, (event.app_id, event.wire))

    def _closed(self, event: events.ConnectionClosed) -> None:
        code = "" if event.code is None else str(event.code)
        _add(self.closed, (event.app_id, event.wire, code))
        if event.code == SLOW_CONSUMER_CODE:
            self.slow_consumers += 1

    def _published(self, event: events.Published) -> None:
        _add(self.api_events, (event.app_id,))
        _add(self.api_event_bytes, (event.app_id,), event.size)

    def _client_event(self, event: events.ClientEventSent) -> None:
        _add(self.client_events, (event.app_id,))

    def _subscribed(self, event: events.Subscribed) -> None:
        _add(self.subscriptions, (event.app_id,))

    def _refused(self, event: events.SubscriptionRefused) -> None:
        _add(self.refused, (event.app_id,))

    def _member_added(self, event: events.MemberAdded) -> None:
        _add(self.members_added, (event.app_id,))

    def _member_removed(self, event: events.MemberRemoved) -> None:
        _add(self.members_removed, (event.app_id,))

    def _error(self, event: events.ErrorSent) -> None:
        _add(self.errors, (event.app_id,))
        if _is_rate_limit(event.message):
            _add(self.rate_limited, ("client_events",))

    def _api_refused(self, event: events.ApiRequestRefused) -> None:
        if event.status == 429:
            _add(self.rate_limited, ("http_api",))
