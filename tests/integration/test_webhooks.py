"""Webhooks on one node: every event type signed for the PyPI SDK, filters, retries, the
delivery log and redeliver, metrics, and receivers that misbehave."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fixtures.webhooks import Receiver, has, webhook_json
from tests.integration.conftest import (
    KEY,
    OpenClient,
    ServerFactory,
    publish,
)
from tests.support.waiting import eventually
from tidings.server.runner import RunningServer


@pytest.fixture
async def idle_receiver() -> AsyncIterator[Receiver]:
    """A receiver that is not listening (yet): its port refuses connections."""
    receiver = Receiver()
    yield receiver
    await receiver.stop()


async def admin(server: RunningServer, method: str, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{server.admin_url}{path}") as response:
            return response.status, await response.json(content_type=None)


async def settled(server: RunningServer) -> None:
    """Wait (bounded) until the node has no unsettled delivery and nothing batched."""

    def idle() -> bool:
        return not server.webhooks.pending() and server.webhooks.batcher.next_due() is None

    await eventually(idle, 15, "webhook deliveries settled")


async def test_every_event_type_arrives_signed_for_the_sdk(
    server_factory: ServerFactory, receiver: Receiver, open_client: OpenClient
) -> None:
    """All seven event types reach the receiver, each POST accepted by validate_webhook."""
    server = await server_factory(
        admin_port=0,
        default_app_webhooks=webhook_json(receiver.url()),
        default_app_enable_subscription_count=True,
    )
    alice = await open_client(server)
    member = json.dumps({"user_id": "alice", "user_info": {"name": "A"}})
    ok = await alice.subscribe("presence-room", channel_data=member)
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    await alice.subscribe("private-chat")
    await alice.subscribe("news")
    await alice.send("client-typing", {"on": True}, channel="private-chat")
    bob = await open_client(server)
    await bob.subscribe("cache-prices")
    # Counts go out once they settle (0.25 s), and only while someone is there.
    await receiver.wait_for(has("subscription_count", "news"))
    await alice.ws.close()
    events = await receiver.wait_for(has("member_removed", "presence-room"))
    events = await receiver.wait_for(has("channel_vacated", "news"))
    assert all(r.body is not None for r in receiver.received)  # validate_webhook accepted all
    assert all(r.headers["X-Pusher-Key"] == KEY for r in receiver.received)
    assert all(r.headers["Content-Type"] == "application/json" for r in receiver.received)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_name.setdefault(event["name"], []).append(event)
    assert set(by_name) == {
        "channel_occupied",
        "channel_vacated",
        "member_added",
        "member_removed",
        "client_event",
        "cache_miss",
        "subscription_count",
    }
    assert {e["channel"] for e in by_name["channel_occupied"]} == {
        "presence-room",
        "private-chat",
        "news",
        "cache-prices",
    }
    assert by_name["member_added"] == [
        {"name": "member_added", "channel": "presence-room", "user_id": "alice"}
    ]
    (client_event,) = by_name["client_event"]
    assert client_event == {
        "name": "client_event",
        "channel": "private-chat",
        "event": "client-typing",
        "data": '{"on":true}',
        "socket_id": alice.socket_id,
    }
    assert by_name["cache_miss"] == [{"name": "cache_miss", "channel": "cache-prices"}]
    assert {"name": "subscription_count", "channel": "news", "subscription_count": 1} in by_name[
        "subscription_count"
    ]


async def test_filters_event_types_headers_and_several_webhooks(
    server_factory: ServerFactory, receiver: Receiver, open_client: OpenClient
) -> None:
    """Each webhook gets only its event types on its channels, with its extra headers."""
    hooks = [
        {
            "url": receiver.url("/members"),
            "event_types": ["member_added"],
            "filter": {"channel_name_starts_with": "presence-"},
            "headers": {"X-Tenant": "acme"},
        },
        {"url": receiver.url("/eu"), "filter": {"channel_name_ends_with": "-eu"}},
    ]
    server = await server_factory(default_app_webhooks=json.dumps(hooks))
    c = await open_client(server)
    await c.subscribe("presence-a", channel_data=json.dumps({"user_id": "u1"}))
    await c.subscribe("orders-eu")
    await c.subscribe("orders-us")
    await c.subscribe("presence-z-eu", channel_data=json.dumps({"user_id": "u2"}))
    await receiver.wait_for(lambda ev: len([e for e in ev if e["name"] == "member_added"]) >= 3)
    await settled(server)
    members = receiver.events("/members")
    assert sorted((e["channel"], e["user_id"]) for e in members) == [
        ("presence-a", "u1"),
        ("presence-z-eu", "u2"),
    ]
    assert all(r.headers["X-Tenant"] == "acme" for r in receiver.received if r.path == "/members")
    eu = receiver.events("/eu")
    assert {e["channel"] for e in eu} == {"orders-eu", "presence-z-eu"}
    assert {e["name"] for e in eu} == {"channel_occupied", "member_added"}
    assert all("X-Tenant" not in r.headers for r in receiver.received if r.path == "/eu")


async def test_receiver_down_then_back_gets_it_re_signed(
    server_factory: ServerFactory, open_client: OpenClient, idle_receiver: Receiver
) -> None:
    """While the receiver is down attempts fail and are logged; once it is back the retry
    arrives with a fresh time_ms and signature that validate_webhook accepts."""
    receiver = idle_receiver  # not listening yet
    server = await server_factory(admin_port=0, default_app_webhooks=webhook_json(receiver.url()))
    c = await open_client(server)
    await c.subscribe("news")

    async def attempted() -> bool:  # the first attempt fails at once (connection refused)
        _, body = await admin(server, "GET", "/api/apps/1/webhooks/deliveries")
        return bool(body["deliveries"]) and body["deliveries"][0]["attempts"] >= 1

    await eventually(attempted, 15, "a failed attempt logged")
    status, body = await admin(server, "GET", "/api/apps/1/webhooks/deliveries")
    (failing,) = body["deliveries"]
    assert failing["status"] == "retrying"
    assert "Connect" in failing["error"]
    assert failing["event_names"] == ["channel_occupied"]
    first_attempt = failing["last_attempt_at"]
    await receiver.start()
    try:
        await receiver.wait_for(has("channel_occupied", "news"), timeout=10)
        (got,) = receiver.received
        assert got.body is not None  # re-signed and re-stamped: the SDK accepts it
        assert got.body["time_ms"] / 1000 > first_attempt
        assert got.headers["X-Tidings-Delivery"] == failing["id"]  # the same on every attempt
        await settled(server)
        status, body = await admin(server, "GET", "/api/apps/1/webhooks/deliveries?limit=1")
        (sent,) = body["deliveries"]
        assert (sent["status"], sent["last_status_code"], sent["error"]) == ("sent", 200, None)
        assert sent["attempts"] >= 2
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.admin_url}/metrics") as response:
                metrics = await response.text()
        assert 'tidings_webhook_deliveries_total{outcome="sent"} 1.0' in metrics
        assert 'tidings_webhook_deliveries_total{outcome="retrying"}' in metrics
        assert "tidings_webhook_delivery_seconds_count 1.0" in metrics
    finally:
        await receiver.stop()


async def test_misbehaving_receivers_are_failed_attempts_not_crashes(
    server_factory: ServerFactory, open_client: OpenClient
) -> None:
    """3xx, 4xx, 5xx, a closed connection and garbage are each a failed attempt with its
    reason; the server keeps serving and every delivery is sent once the receiver behaves."""
    behaviours = ["500", "302", "404", "close", "garbage"]
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        mode = behaviours.pop(0) if behaviours else "200"
        seen.append(mode)
        if mode == "close":
            pass
        elif mode == "garbage":
            writer.write(b"\x00\x01 not http at all\r\n\r\n")
        else:
            reason = {"200": "OK", "302": "Found", "404": "Not Found", "500": "Oops"}[mode]
            writer.write(f"HTTP/1.1 {mode} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    try:
        server = await server_factory(
            admin_port=0,
            default_app_webhooks=webhook_json(f"http://127.0.0.1:{port}/hook"),
            webhook_batch_size=1,
        )
        c = await open_client(server)
        for name in ("a", "b", "c", "d", "e"):
            await c.subscribe(name)
        for _ in range(200):
            _, body = await admin(server, "GET", "/api/apps/1/webhooks/deliveries")
            if len(body["deliveries"]) == 5 and all(
                d["status"] == "sent" for d in body["deliveries"]
            ):
                break
            await asyncio.sleep(0.05)
        assert sorted(seen[:5]) == sorted(["500", "302", "404", "close", "garbage"])
        assert [d["status"] for d in body["deliveries"]] == ["sent"] * 5
        assert all(d["attempts"] == 2 for d in body["deliveries"])
        assert server.webhooks.stats.retrying == 5
        status, _ = await publish(server, ["a"], "still-alive", "{}")
        assert status == 200
    finally:
        raw.close()
        await raw.wait_closed()


async def test_delivery_log_and_redeliver(
    server_factory: ServerFactory, receiver: Receiver, open_client: OpenClient
) -> None:
    """The log lists deliveries newest first; redeliver sends the same events again, signed;
    bad input gets a JSON error with a hint."""
    server = await server_factory(admin_port=0, default_app_webhooks=webhook_json(receiver.url()))
    c = await open_client(server)
    await c.subscribe("news")
    await receiver.wait_for(has("channel_occupied", "news"))
    await settled(server)
    status, body = await admin(server, "GET", "/api/apps/1/webhooks/deliveries?limit=10")
    assert status == 200
    (logged,) = body["deliveries"]
    assert logged["url"] == receiver.url()
    assert logged["status"] == "sent" and logged["attempts"] == 1
    for key in ("id", "created_at", "last_attempt_at", "last_status_code", "error", "events"):
        assert key in logged
    status, body = await admin(
        server, "POST", f"/api/apps/1/webhooks/deliveries/{logged['id']}/redeliver"
    )
    assert status == 202
    assert body["delivery"]["redelivery_of"] == logged["id"]
    await receiver.wait_for(has("channel_occupied", "news", count=2))
    assert all(r.body is not None for r in receiver.received)
    status, body = await admin(server, "POST", "/api/apps/1/webhooks/deliveries/nope/redeliver")
    assert status == 404 and body["hint"]
    status, body = await admin(server, "GET", "/api/apps/9/webhooks/deliveries")
    assert status == 404 and body["error"] == "unknown app"
    status, body = await admin(server, "GET", "/api/apps/1/webhooks/deliveries?limit=x")
    assert status == 400 and "limit" in body["error"]


async def test_no_webhooks_configured_sends_nothing(
    server_factory: ServerFactory, receiver: Receiver, open_client: OpenClient
) -> None:
    """An app without webhooks has nothing queued (the listener returns at once)."""
    server = await server_factory()
    c = await open_client(server)
    await c.subscribe("news")
    assert server.webhooks.batcher.depth() == {}
    assert server.webhooks.pending() == []


async def test_full_queue_drops_count_and_are_exported(
    server_factory: ServerFactory, open_client: OpenClient, idle_receiver: Receiver
) -> None:
    """With the receiver down, an app holds at most webhook_queue_limit events; the rest
    are dropped, counted and exported, and clients are served as usual."""
    receiver = idle_receiver  # never listening
    server = await server_factory(
        admin_port=0, default_app_webhooks=webhook_json(receiver.url()), webhook_queue_limit=2
    )
    c = await open_client(server)
    for name in ("a", "b", "c", "d", "e"):
        reply = await c.subscribe(name)
        assert reply["event"] == "pusher_internal:subscription_succeeded"
    assert server.webhooks.stats.dropped == {"1": 3}
    assert server.webhooks.batcher.depth() == {"1": 2}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.admin_url}/metrics") as response:
            metrics = await response.text()
    assert 'tidings_webhook_events_dropped_total{app_id="1"} 3.0' in metrics
    assert 'tidings_webhook_queue_depth{app_id="1"} 2.0' in metrics
    status, _ = await publish(server, ["a"], "still-served", "{}")
    assert status == 200
    assert (await c.expect("still-served"))["event"] == "still-served"


async def test_a_receiver_that_never_answers_is_a_timed_out_attempt(
    server_factory: ServerFactory, open_client: OpenClient
) -> None:
    """No answer within 5 s is a failed attempt with that reason (and the retry is due)."""
    held: list[asyncio.StreamWriter] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read the request, never answer

    raw = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    try:
        server = await server_factory(
            default_app_webhooks=webhook_json(f"http://127.0.0.1:{port}/hook")
        )
        c = await open_client(server)
        await c.subscribe("news")
        logged = None
        for _ in range(200):  # the attempt ends 5 s after it started
            found = await server.webhooks.recent("1", 1)
            logged = found[0] if found else None
            if logged is not None and logged.attempts >= 1:
                break
            await asyncio.sleep(0.05)
        assert logged is not None
        assert (logged.status, logged.error) == ("retrying", "no answer within 5 s")
        assert logged.last_status_code is None
    finally:
        for writer in held:
            writer.close()
        raw.close()
        await raw.wait_closed()
