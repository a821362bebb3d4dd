"""What a webhook POST carries: Pusher's event shapes, the body, its signature. Pure.

A delivery is ``{"time_ms": <ms>, "events": [...]}`` signed with
``X-Pusher-Signature: hex(HMAC-SHA256(secret, body))``. The PyPI ``pusher`` SDK's
``validate_webhook`` refuses a ``time_ms`` more than 300 s away from its clock,
so every attempt (retries included) gets a fresh body and signature
(:func:`signed_request`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson

from tidings.domain import events

__all__ = ["SOURCES", "Source", "WebhookEvent", "signed_request", "webhook_event"]

WebhookEvent = dict[str, Any]
"""One entry of ``events``: ``{"name": ..., "channel": ..., ...}`` in Pusher's shape."""

Source = (
    events.ChannelOccupied
    | events.ChannelVacated
    | events.MemberAdded
    | events.MemberRemoved
    | events.ClientEventSent
    | events.CacheMissed
    | events.SubscriptionCountChanged
)
"""Any of :data:`SOURCES`."""

SOURCES: Final[tuple[type[Source], ...]] = (
    events.ChannelOccupied,
    events.ChannelVacated,
    events.MemberAdded,
    events.MemberRemoved,
    events.ClientEventSent,
    events.CacheMissed,
    events.SubscriptionCountChanged,
)
"""The bus events that become webhook events (one type each)."""


def webhook_event(event: events.Event) -> WebhookEvent | None:
    """The Pusher webhook event for a bus event, or ``None`` for one webhooks do not carry.

    ``client_event`` carries ``data`` as the JSON text the client sent, as Pusher does,
    and ``user_id`` only on presence channels.
    """
    build = _BUILDERS.get(type(event))
    return build(event) if build is not None else None


def _channel_only(event: Any) -> WebhookEvent:
    return {"name": event.name, "channel": event.channel}


def _member(event: Any) -> WebhookEvent:
    return {"name": event.name, "channel": event.channel, "user_id": event.user_id}


def _client_event(event: Any) -> WebhookEvent:
    out: WebhookEvent = {
        "name": "client_event",
        "channel": event.channel,
        "event": event.event,
        "data": event.data,
        "socket_id": event.socket_id,
    }
    if event.user_id is not None:
        out["user_id"] = event.user_id
    return out


def _count(event: Any) -> WebhookEvent:
    return {
        "name": "subscription_count",
        "channel": event.channel,
        "subscription_count": event.count,
    }


# One dictionary hit per event: this runs on the core's paths.
_BUILDERS: Final[dict[type[events.Event], Callable[[Any], WebhookEvent]]] = {
    events.ChannelOccupied: _channel_only,
    events.ChannelVacated: _channel_only,
    events.CacheMissed: _channel_only,
    events.MemberAdded: _member,
    events.MemberRemoved: _member,
    events.ClientEventSent: _client_event,
    events.SubscriptionCountChanged: _count,
}


def signed_request(
    key: str,
    secret: str,
    batch: Sequence[WebhookEvent],
    time_ms: int,
    extra_headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
    delivery_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt: stamped ``time_ms`` and signed with ``secret``.

    Extra headers come first, so they can never replace the ones tidings sets
    (the config refuses those names anyway). ``X-Tidings-Delivery`` carries the
    delivery id, the same on every attempt, so a receiver can drop a repeat.
    """
    body = orjson.dumps({"time_ms": time_ms, "events": list(batch)})
    pairs = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
    headers = dict(pairs)
    headers["Content-Type"] = "application/json"
    headers["X-Pusher-Key"] = key
    headers["X-Pusher-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if delivery_id is not None:
        headers["X-Tidings-Delivery"] = delivery_id
    return body, headers
