"""One delivery (a batch for one app and URL), its retry schedule and its log record. Pure.

The schedule (``docs/webhooks.md``): a 2xx answer within :data:`ATTEMPT_TIMEOUT_S`
is success; anything else is a failed attempt, retried after 1 s, then 2, 4, ...
up to 60 s between attempts, until :data:`GIVE_UP_AFTER_S` after the delivery was
made; the last attempt happens at that moment at the latest, then the delivery
is failed. Times are Unix seconds (wall clock), so a node that takes over
another's deliveries keeps their deadlines.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

from tidings.webhooks.payloads import WebhookEvent

__all__ = [
    "ATTEMPT_TIMEOUT_S",
    "GIVE_UP_AFTER_S",
    "Attempt",
    "Delivery",
    "Status",
    "after_attempt",
    "new_delivery_id",
    "retry_delay",
]

ATTEMPT_TIMEOUT_S: Final = 5.0
FIRST_RETRY_S: Final = 1.0
MAX_RETRY_S: Final = 60.0
GIVE_UP_AFTER_S: Final = 300.0

Status = Literal["pending", "retrying", "sent", "failed"]


def new_delivery_id(now: float) -> str:
    """A unique id that sorts by creation time (hex milliseconds + random)."""
    return f"{int(now * 1000):011x}{secrets.token_hex(5)}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to: a status code (``None`` when there was no answer) and why
    it failed (``None`` on success)."""

    status_code: int | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        """A 2xx answer in time."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One batch of events for one app and URL, and where it stands.

    Attributes:
        id: unique, time-sortable (:func:`new_delivery_id`).
        app_id: whose events; the key and secret are looked up at each attempt,
            so a rotated secret signs the next one.
        url: where to POST.
        headers: the webhook's extra headers.
        events: the batch, in Pusher's shapes.
        created_at: when it was made; the give-up deadline counts from here.
        first_event_at: when its oldest event happened (latency is measured from here).
        attempts: POSTs made so far.
        status: ``pending`` (not tried yet), ``retrying``, ``sent`` or ``failed``.
        next_attempt_at: when the next attempt is due (``None`` once settled).
        last_status_code: the last answer's status code, if there was one.
        error: why the last attempt failed.
        last_attempt_at: when the last attempt ended.
        node: the node that made it (or took it over).
        redelivery_of: the delivery this one repeats (admin redeliver).
    """

    id: str
    app_id: str
    url: str
    events: tuple[WebhookEvent, ...]
    created_at: float
    headers: tuple[tuple[str, str], ...] = ()
    first_event_at: float | None = None
    attempts: int = 0
    status: Status = "pending"
    next_attempt_at: float | None = None
    last_status_code: int | None = None
    error: str | None = None
    last_attempt_at: float | None = None
    node: str = ""
    redelivery_of: str | None = None

    @property
    def settled(self) -> bool:
        """Sent or failed: nothing more will be tried."""
        return self.status in ("sent", "failed")

    def record(self) -> dict[str, Any]:
        """The whole delivery as JSON-ready data (stores keep this)."""
        out = asdict(self)
        out["events"] = list(self.events)
        out["headers"] = [list(pair) for pair in self.headers]
        return out

    def view(self) -> dict[str, Any]:
        """What the admin API shows: no header values (they may hold credentials)."""
        out = self.record()
        out["event_names"] = [e.get("name") for e in self.events]
        out["header_names"] = [name for name, _ in self.headers]
        del out["headers"]
        return out

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Delivery:
        """The inverse of :meth:`record`."""
        values = dict(data)
        values["events"] = tuple(values.get("events") or ())
        values["headers"] = tuple((str(n), str(v)) for n, v in values.get("headers") or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: 1, 2, 4, ... at most 60."""
    delay: float = FIRST_RETRY_S * 2.0 ** max(attempts - 1, 0)
    return min(delay, MAX_RETRY_S)


def after_attempt(delivery: Delivery, attempt: Attempt, now: float) -> Delivery:
    """The delivery once ``attempt`` ended at ``now``: sent, retrying (with its next time),
    or failed when the give-up deadline has come."""
    done = replace(
        delivery,
        attempts=delivery.attempts + 1,
        last_status_code=attempt.status_code,
        error=attempt.error,
        last_attempt_at=now,
    )
    if attempt.ok:
        return replace(done, status="sent", next_attempt_at=None)
    deadline = delivery.created_at + GIVE_UP_AFTER_S
    if now >= deadline:
        return replace(done, status="failed", next_attempt_at=None)
    next_at = min(now + retry_delay(done.attempts), deadline)
    return replace(done, status="retrying", next_attempt_at=next_at)
