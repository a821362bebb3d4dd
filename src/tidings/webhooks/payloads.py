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
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from tidings.domain import events

__all__ = ["WebhookEvent", "signed_request", "webhook_event"]

WebhookEvent = dict[str, Any]
"""One entry of ``events``: ``{"name": ..., "channel": ..., ...}`` in Pusher's shape."""

SOURCES: Final[tuple[type[events.Event], ...]] = (
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
    if isinstance(event, events.ChannelOccupied | events.ChannelVacated | events.CacheMissed):
        return {"name": event.name, "channel": event.channel}
    if isinstance(event, events.MemberAdded | events.MemberRemoved):
        return {"name": event.name, "channel": event.channel, "user_id": event.user_id}
    if isinstance(event, events.ClientEventSent):
        out: WebhookEvent = {
            "name": event.name,
            "channel": event.channel,
            "event": event.event,
            "data": event.data,
            "socket_id": event.socket_id,
        }
        if event.user_id is not None:
            out["user_id"] = event.user_id
        return out
    if isinstance(event, events.SubscriptionCountChanged):
        return {
            "name": event.name,
            "channel": event.channel,
            "subscription_count": event.count,
        }
    return None


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
