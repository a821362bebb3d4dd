"""Payload shapes, signing, batching and the retry schedule (a fake clock: no waiting)."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pusher

from tidings.apps.webhooks import Webhook
from tidings.domain import events
from tidings.typing import AppId, ChannelName, SocketId, UserId
from tidings.webhooks.batcher import Batcher, headers_by_url
from tidings.webhooks.delivery import (
    GIVE_UP_AFTER_S,
    Attempt,
    Delivery,
    after_attempt,
    retry_delay,
)
from tidings.webhooks.payloads import signed_request, webhook_event

A, C = AppId("1"), ChannelName("presence-room")
FAIL = Attempt(503, "HTTP 503", 0.01)
OK = Attempt(200, None, 0.01)


def test_every_event_type_has_pushers_shape() -> None:
    """The seven bus events become Pusher's webhook events; others become nothing."""
    assert webhook_event(events.ChannelOccupied(A, C)) == {"name": "channel_occupied", "channel": C}
    assert webhook_event(events.ChannelVacated(A, C)) == {"name": "channel_vacated", "channel": C}
    assert webhook_event(events.MemberAdded(A, C, UserId("u"), {"n": 1})) == {
        "name": "member_added",
        "channel": C,
        "user_id": "u",
    }
    assert webhook_event(events.MemberRemoved(A, C, UserId("u"))) == {
        "name": "member_removed",
        "channel": C,
        "user_id": "u",
    }
    sent = events.ClientEventSent(A, C, "client-x", '{"a":1}', SocketId("1.2"), UserId("u"))
    assert webhook_event(sent) == {
        "name": "client_event",
        "channel": C,
        "event": "client-x",
        "data": '{"a":1}',
        "socket_id": "1.2",
        "user_id": "u",
    }
    private = events.ClientEventSent(A, ChannelName("private-a"), "client-x", "1", SocketId("1.2"))
    assert "user_id" not in (webhook_event(private) or {})
    assert webhook_event(events.CacheMissed(A, C, SocketId("1.2"))) == {
        "name": "cache_miss",
        "channel": C,
    }
    assert webhook_event(events.SubscriptionCountChanged(A, C, 3)) == {
        "name": "subscription_count",
        "channel": C,
        "subscription_count": 3,
    }
    assert webhook_event(events.Subscribed(A, C, SocketId("1.2"))) is None


def test_signature_is_hmac_of_the_exact_body_and_the_sdk_accepts_it() -> None:
    """X-Pusher-Signature is HMAC-SHA256(secret, body); pusher.validate_webhook agrees."""
    import time

    batch = [{"name": "channel_occupied", "channel": "a"}]
    now_ms = int(time.time() * 1000)
    body, headers = signed_request("key", "secret", batch, now_ms, (("X-Tenant", "acme"),))
    assert orjson.loads(body) == {"time_ms": now_ms, "events": batch}
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Pusher-Signature"] == expected
    assert headers["X-Pusher-Key"] == "key"
    assert headers["X-Tenant"] == "acme"
    client = pusher.Pusher(app_id="1", key="key", secret="secret")
    assert client.validate_webhook("key", headers["X-Pusher-Signature"], body.decode()) is not None
    stale, stale_headers = signed_request("key", "secret", batch, now_ms - 301_000)
    assert (
        client.validate_webhook("key", stale_headers["X-Pusher-Signature"], stale.decode()) is None
    )


def test_batches_per_app_and_url_window_and_size() -> None:
    """One batch per app and URL; ready after the window or when full; split by size."""
    batcher = Batcher(window=0.1, max_batch=3, limit=100)
    event = {"name": "channel_occupied", "channel": "c"}
    assert batcher.offer("1", event, ["http://h/a", "http://h/b"], now=10.0)
    assert batcher.next_due() == 10.1
    assert batcher.take(10.05) == []
    ready = {b.url: b for b in batcher.take(10.1)}
    assert set(ready) == {"http://h/a", "http://h/b"}
    assert ready["http://h/a"].events == [event]
    for _ in range(3):
        batcher.offer("1", event, ["http://h/b"], now=20.0)
    assert batcher.next_due() == float("-inf")  # full: ready at once
    (full,) = batcher.take(20.0)
    assert len(full.events) == 3
    for _ in range(7):
        batcher.offer("2", event, ["http://h/b"], now=30.0)
    sizes = [len(b.events) for b in batcher.take(30.0, everything=True)]
    assert sizes == [3, 3, 1]


def test_webhooks_sharing_a_url_share_its_headers() -> None:
    """Every webhook with one URL adds its headers to that URL's requests."""
    hooks = [
        Webhook("http://h/a", headers=(("X-1", "1"),)),
        Webhook("http://h/a", headers=(("X-2", "2"),)),
        Webhook("http://h/b"),
    ]
    assert headers_by_url(hooks) == {"http://h/a": (("X-1", "1"), ("X-2", "2")), "http://h/b": ()}


def test_queue_is_bounded_per_app_and_drops_are_counted() -> None:
    """Beyond the limit an app's events are dropped (counted); other apps are unaffected;
    settled deliveries free room."""
    hook = ["http://h/"]
    batcher = Batcher(window=0.1, max_batch=100, limit=2)
    event = {"name": "cache_miss", "channel": "c"}
    assert batcher.offer("1", event, hook, 0.0)
    assert batcher.offer("1", event, hook, 0.0)
    assert not batcher.offer("1", event, hook, 0.0)
    assert batcher.dropped == {"1": 1}
    assert batcher.offer("2", event, hook, 0.0)
    assert batcher.depth() == {"1": 2, "2": 1}
    batcher.take(1.0)
    assert batcher.depth() == {"1": 2, "2": 1}  # in deliveries, still waiting
    batcher.release("1", 2)
    assert batcher.offer("1", event, hook, 1.0)


def test_backoff_doubles_from_one_second_to_sixty() -> None:
    """1, 2, 4, ... 32, then 60 s between attempts."""
    assert [retry_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_schedule_with_a_fake_clock_gives_up_after_300_s() -> None:
    """A receiver that always fails is tried at 0, 1, 3, 7 ... and last at 300 s, then failed."""
    delivery = Delivery("d", "1", "http://h/", ({"name": "x", "channel": "c"},), created_at=1000.0)
    now = 1000.0
    tried = []
    while not delivery.settled:
        tried.append(now - 1000.0)
        delivery = after_attempt(delivery, FAIL, now)
        if delivery.next_attempt_at is not None:
            assert delivery.status == "retrying"
            now = delivery.next_attempt_at
    assert tried == [0, 1, 3, 7, 15, 31, 63, 123, 183, 243, 300]
    assert delivery.status == "failed"
    assert delivery.attempts == 11
    assert delivery.last_status_code == 503 and delivery.error == "HTTP 503"
    assert tried[-1] == GIVE_UP_AFTER_S


def test_a_success_after_failures_settles_as_sent() -> None:
    """The receiver back after a minute: the next attempt is sent, nothing more is due."""
    delivery = Delivery("d", "1", "http://h/", (), created_at=0.0)
    for now in (0.0, 1.0, 3.0, 7.0, 15.0, 31.0):
        delivery = after_attempt(delivery, FAIL, now)
    assert delivery.next_attempt_at == 63.0
    delivery = after_attempt(delivery, OK, 63.0)
    assert delivery.status == "sent" and delivery.next_attempt_at is None
    assert delivery.error is None and delivery.attempts == 7


def test_record_round_trip_and_view_hides_header_values() -> None:
    """Stores keep record(); the admin API shows view(), with header names only."""
    delivery = Delivery(
        "d",
        "1",
        "http://h/",
        ({"name": "cache_miss", "channel": "c"},),
        5.0,
        headers=(("Authorization", "Bearer s3cret"),),
    )
    assert Delivery.from_record(orjson.loads(orjson.dumps(delivery.record()))) == delivery
    view = delivery.view()
    assert view["header_names"] == ["Authorization"]
    assert "s3cret" not in orjson.dumps(view).decode()
    assert view["event_names"] == ["cache_miss"]
