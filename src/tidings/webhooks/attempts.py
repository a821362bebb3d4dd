"""One attempt of a webhook delivery: signing, POSTing, and accounting its outcome.

The service decides when a delivery is attempted and what becomes of it
(:func:`~tidings.webhooks.delivery.after_attempt`); these carry one attempt
out. The contract: none of them raises for what a receiver, the app store or
the delivery store does. An app store that cannot be reached, or an app gone,
is a failed :class:`Attempt` like a receiver's error; the delivery log is best
effort, so a store outage is logged and never stops deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from tidings.apps.base import AppStore
from tidings.errors import TidingsError
from tidings.webhooks.delivery import Attempt, Delivery
from tidings.webhooks.payloads import signed_request
from tidings.webhooks.sender import Sender
from tidings.webhooks.stats import WebhookStats
from tidings.webhooks.store import DeliveryStore

__all__ = ["account_attempt", "post_attempt", "record_delivery"]

# The service's logger: these lines are the service's.
log = structlog.get_logger("tidings.webhooks.service")


async def post_attempt(
    apps: AppStore, sender: Sender, delivery: Delivery, clock: Callable[[], float]
) -> Attempt:
    """Sign ``delivery``'s events with the app's current key and secret, stamped now, and
    POST them."""
    try:
        app = await apps.by_id(delivery.app_id)
    except TidingsError as exc:
        return Attempt(None, f"app store unreachable: {exc.message}", 0.0)
    if app is None:
        return Attempt(None, "the app no longer exists", 0.0)
    time_ms = int(clock() * 1000)
    body, headers = signed_request(
        app.key, app.secret, delivery.events, time_ms, delivery.headers, delivery.id
    )
    return await sender.post(delivery.url, body, headers)


def account_attempt(
    stats: WebhookStats, done: Delivery, attempt: Attempt, clock: Callable[[], float]
) -> None:
    """Count the outcome (``done``, after ``attempt``) and log what did not succeed."""
    fields: dict[str, Any] = {
        "app_id": done.app_id,
        "url": done.url,
        "delivery_id": done.id,
        "attempt": done.attempts,
    }
    if done.status == "sent":
        stats.sent += 1
        stats.observe(clock() - (done.first_event_at or done.created_at))
        return
    if done.status == "failed":
        stats.failed += 1
        log.warning("webhook delivery failed; giving up", reason=attempt.error, **fields)
        return
    stats.retrying += 1
    log.warning(
        "webhook attempt failed; will retry",
        reason=attempt.error,
        retry_in_s=round((done.next_attempt_at or 0) - (done.last_attempt_at or 0), 1),
        **fields,
    )


async def record_delivery(store: DeliveryStore, delivery: Delivery) -> None:
    """Put ``delivery`` in the log as it stands; a store outage is logged, not raised."""
    try:
        await store.put([delivery])
    except TidingsError as exc:
        log.warning("webhooks: delivery not recorded", delivery_id=delivery.id, reason=exc.message)
