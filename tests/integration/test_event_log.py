"""What the server logs about clients: one debug line per event, nothing per delivery at info."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import structlog

from tests.integration.conftest import (
    APP_ID,
    ServerFactory,
    close_and_wait,
    publish,
)
from tests.integration.conftest import (
    client as client_of,
)
from tidings.admin.counters import EventCounters
from tidings.domain import events
from tidings.eventlog import summary_fields
from tidings.logs import configure_logging

SECRET_DATA = "card-4242-never-logged"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    structlog.reset_defaults()
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.WARNING)


def lines(out: io.StringIO, logger: str = "tidings.events") -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    return [line for line in parsed if line.get("logger") == logger]


def one(found: list[dict[str, Any]], message: str, **fields: Any) -> dict[str, Any]:
    matches = [
        line
        for line in found
        if line["event"] == message and all(line.get(k) == v for k, v in fields.items())
    ]
    assert len(matches) == 1, f"{message} {fields}: {matches} in {found}"
    return matches[0]


async def test_debug_lines(server_factory: ServerFactory, log_lines: io.StringIO) -> None:
    """At debug: opened/closed (socket id, app, remote, code), subscribe results, auth
    failures with the reason, API publishes (channel, event, size) and refused API calls;
    never the data."""
    configure_logging("debug", "json", stream=log_lines)
    running = await server_factory()
    client = await client_of(running)
    await client.subscribe("news")
    await client.send("pusher:subscribe", {"channel": "private-x", "auth": "app-key:bad"})
    await client.expect("pusher:subscription_error")
    await publish(running, ["news"], "order-paid", orjson.dumps(SECRET_DATA).decode())
    await client.expect("order-paid")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.http_url}/apps/{APP_ID}/channels") as response:
            assert response.status == 401
    await close_and_wait(running, client)

    found = lines(log_lines)
    sid = client.socket_id
    opened = one(found, "connection opened", socket_id=sid, app_id=APP_ID, wire="pusher")
    assert opened["remote"] == "127.0.0.1"
    assert opened["level"] == "debug"
    one(found, "subscribed", socket_id=sid, channel="news")
    refused = one(found, "subscription refused", socket_id=sid, channel="private-x")
    assert "signature" in refused["reason"].lower() or "auth" in refused["reason"].lower()
    published = one(found, "api publish", channel="news", event_name="order-paid")
    assert published["size"] == len(orjson.dumps(orjson.dumps(SECRET_DATA).decode()))
    api = one(found, "api request refused", endpoint="/apps/{app_id}/channels", status=401)
    assert api["reason"]
    one(found, "unsubscribed", socket_id=sid, channel="news")
    one(found, "connection closed", socket_id=sid, app_id=APP_ID)
    assert SECRET_DATA not in log_lines.getvalue()
    assert "app-secret" not in log_lines.getvalue()


async def test_info_logs_nothing_per_client(
    server_factory: ServerFactory, log_lines: io.StringIO
) -> None:
    """At info the debug listeners are not even added: no event is built for them, and a
    publish, subscribe and close log nothing."""
    configure_logging("info", "json", stream=log_lines)
    running = await server_factory()
    assert not running.bus.wants(events.Unsubscribed)  # only the debug log listens to it
    client = await client_of(running)
    await client.subscribe("news")
    await publish(running, ["news"], "e", '"x"')
    await client.expect("e")
    await close_and_wait(running, client)
    assert lines(log_lines) == []


async def test_summary_counts(server_factory: ServerFactory) -> None:
    """The info summary reports what the event totals counted."""
    running = await server_factory()
    counters = running.counters
    assert isinstance(counters, EventCounters)
    before = summary_fields(running.state, counters)
    client = await client_of(running)
    await client.subscribe("news")
    await publish(running, ["news"], "e", '"x"')
    await client.expect("e")
    await close_and_wait(running, client)
    after = summary_fields(running.state, counters)
    delta = {name: after[name] - before[name] for name in after}
    assert delta["connections_opened"] == 1
    assert delta["connections_closed"] == 1
    assert delta["api_events"] == 1
    assert delta["deliveries"] == 1
