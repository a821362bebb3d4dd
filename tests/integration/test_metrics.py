"""/metrics against real traffic: the section 7.5 set with Prometheus names, the docs
table and the Grafana dashboard (every query names a series the live server exports)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import (
    APP_ID,
    ConnectFn,
    ServerFactory,
    close_and_wait,
    eventually,
    publish,
    signed_url,
)
from tests.integration.conftest import (
    client as client_of,
)
from tidings.server.runner import RunningServer

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana" / "tidings.json"
DOCS = ROOT / "docs" / "observability.md"

#: Section 7.5 of the design, metric by metric (families, without the _total suffix).
REQUIRED = {
    "tidings_connections",
    "tidings_connections_opened",
    "tidings_connections_closed",
    "tidings_websocket_messages_received",
    "tidings_websocket_received_bytes",
    "tidings_websocket_messages_sent",
    "tidings_websocket_sent_bytes",
    "tidings_http_requests",
    "tidings_http_request_duration_seconds",
    "tidings_publications",
    "tidings_deliveries",
    "tidings_client_events",
    "tidings_slow_consumers",
    "tidings_rate_limited",
    "tidings_presence_members",
    "tidings_broker_up",
    "tidings_broker_reconnects",
    "tidings_broker_round_trip_seconds",
}


async def scrape(running: RunningServer) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{running.admin_url}/metrics") as r:
        assert r.status == 200
        return await r.text()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> (labels, value) of every sample in an exposition."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        v for got, v in found.get(name, []) if all(got.get(k) == w for k, w in labels.items())
    )


async def traffic(running: RunningServer) -> None:
    """A bit of everything: connections, subscribes, a client event, publishes, errors."""
    client = await client_of(running)
    await client.subscribe("news")
    other = await client_of(running)
    await other.subscribe("private-room")
    await client.subscribe("private-room")
    member = orjson.dumps({"user_id": "ann", "user_info": {}}).decode()
    reply = await other.subscribe("presence-lobby", channel_data=member)
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    await other.send("client-typing", {"x": 1}, channel="private-room")
    await client.expect("client-typing")
    await client.send("client-typing", {"x": 2}, channel="news")  # public: refused, 4301
    await client.expect("pusher:error")
    assert (await publish(running, ["news"], "hello", '{"n": 1}'))[0] == 200
    await client.expect("hello")
    await other.send("pusher:subscribe", {"channel": "private-x", "auth": "app-key:bad"})
    await other.expect("pusher:subscription_error")
    async with aiohttp.ClientSession() as http:
        unsigned = f"{running.http_url}/apps/{APP_ID}/channels"
        async with http.get(unsigned) as response:
            assert response.status == 401
    third = await client_of(running)
    await close_and_wait(running, third)


async def test_metrics_follow_traffic(server_factory: ServerFactory, redis_url: str) -> None:
    """Every series of section 7.5 is exported, with values that follow what happened."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    running = await server_factory(admin_port=0, broker_url=redis_url, redis_prefix=prefix)
    await traffic(running)
    await eventually(lambda: _measured(running, "tidings_broker_round_trip_seconds"), timeout=10)
    text = await scrape(running)
    families = {f.name for f in text_string_to_metric_families(text)}
    assert REQUIRED <= families, REQUIRED - families
    found = samples(text)
    assert value(found, "tidings_connections", app_id=APP_ID) == 2
    assert value(found, "tidings_connections_opened_total", app_id=APP_ID, wire="pusher") == 3
    assert value(found, "tidings_connections_closed_total", app_id=APP_ID) == 1
    assert value(found, "tidings_client_events_total", app_id=APP_ID) == 1
    assert value(found, "tidings_api_events_total", app_id=APP_ID) == 1
    assert value(found, "tidings_api_event_data_bytes_total", app_id=APP_ID) == len(
        '"{\\"n\\": 1}"'
    )
    assert value(found, "tidings_subscriptions_refused_total", app_id=APP_ID) == 1
    assert value(found, "tidings_presence_members", app_id=APP_ID) == 1
    assert value(found, "tidings_client_errors_total", app_id=APP_ID) == 1
    assert value(found, "tidings_rate_limited_total", source="client_events") == 0
    assert value(found, "tidings_websocket_messages_received_total") >= 6
    assert value(found, "tidings_websocket_sent_bytes_total") > 0
    assert value(found, "tidings_websocket_received_bytes_total") > 0
    assert value(found, "tidings_deliveries_total") >= 2
    events = "/apps/{app_id}/events"
    assert value(found, "tidings_http_requests_total", endpoint=events, status="200") == 1
    channels = "/apps/{app_id}/channels"
    assert value(found, "tidings_http_requests_total", endpoint=channels, status="401") == 1
    assert value(found, "tidings_http_request_duration_seconds_count", endpoint=events) == 1
    assert value(found, "tidings_broker_up") == 1
    assert value(found, "tidings_broker_reconnects_total") == 0
    assert value(found, "tidings_broker_round_trip_seconds") > 0


async def _measured(running: RunningServer, name: str) -> bool:
    """Whether the series ``name`` has a value above 0 (a round trip measured)."""
    return value(samples(await scrape(running)), name) > 0


def _query_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (label names and functions excluded)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_by = re.sub(r"\b(by|without)\s*\([^)]*\)", "", without_labels)
    return set(re.findall(r"\b((?:tidings|process)_[a-z0-9_]+)\b", without_by))


async def test_grafana_dashboard_names_only_live_series(
    server_factory: ServerFactory, redis_url: str
) -> None:
    """Each panel of deploy/grafana/tidings.json queries series that a live /metrics has."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    running = await server_factory(admin_port=0, broker_url=redis_url, redis_prefix=prefix)
    await traffic(running)
    await eventually(lambda: _measured(running, "tidings_broker_round_trip_seconds"), timeout=10)
    live = set(samples(await scrape(running)))
    dashboard: dict[str, Any] = json.loads(GRAFANA.read_text())
    assert dashboard["panels"], "the dashboard has no panels"
    for panel in dashboard["panels"]:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            names = _query_names(target["expr"])
            assert names, f"{panel['title']!r}: {target['expr']!r} names no metric"
            missing = names - live
            assert not missing, f"{panel['title']!r} queries {missing}, not in /metrics"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert _query_names(variable["query"]) <= live


def _dashboard_series() -> set[str]:
    """Every series name a panel or variable of the Grafana dashboard queries."""
    dashboard: dict[str, Any] = json.loads(GRAFANA.read_text())
    names = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in _query_names(target["expr"])
    }
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            names |= _query_names(variable["query"])
    return names


async def test_grafana_series_have_a_value_from_the_first_scrape(
    server_factory: ServerFactory,
) -> None:
    """A fresh server on the in-memory broker, before any traffic, exports a sample of
    every series the Grafana dashboard queries (0 where nothing happened yet), so no panel
    says "No data"."""
    # Memory broker, no client, no request, and no app database: the session's shared one
    # holds the apps other tests created (test_http_garbage POSTs {} to /api/apps).
    running = await server_factory(admin_port=0, database_url="")
    found = samples(await scrape(running))
    wanted = _dashboard_series()
    assert "tidings_broker_reconnects_total" in wanted  # the dashboard parsed as expected
    missing = wanted - set(found)
    assert not missing, f"the dashboard queries {sorted(missing)}, absent from a fresh /metrics"
    assert value(found, "tidings_broker_reconnects_total") == 0
    assert value(found, "tidings_broker_round_trip_seconds") == 0
    assert found["tidings_connections"] == [({"app_id": APP_ID}, 0)]  # every app it serves


async def test_docs_table_lists_every_series(server_factory: ServerFactory, redis_url: str) -> None:
    """docs/observability.md names every tidings_* family the server exports, and no other."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    running = await server_factory(admin_port=0, broker_url=redis_url, redis_prefix=prefix)
    await traffic(running)
    await eventually(lambda: _measured(running, "tidings_broker_round_trip_seconds"), timeout=10)
    exported = set()
    for family in text_string_to_metric_families(await scrape(running)):
        if family.name.startswith("tidings_"):
            exported.add(family.name + ("_total" if family.type == "counter" else ""))
    documented = set(re.findall(r"^\| `(tidings_[a-z_]+)`", DOCS.read_text(), re.MULTILINE))
    assert documented == exported


async def test_connections_endpoint(server: RunningServer, connect: ConnectFn) -> None:
    """GET /apps/{id}/connections is signed and counts the app's open connections."""
    running = server
    await client_of(running)
    second = await client_of(running)
    path = f"/apps/{APP_ID}/connections"
    async with aiohttp.ClientSession() as http:
        async with http.get(signed_url(running.http_url, "GET", path)) as response:
            assert response.status == 200
            assert orjson.loads(await response.read()) == {"connections": 2}
        async with http.get(f"{running.http_url}{path}") as response:
            assert response.status == 401
            assert "error" in await response.json()
        await close_and_wait(running, second)
        async with http.get(signed_url(running.http_url, "GET", path)) as response:
            assert await response.json() == {"connections": 1}


async def test_connections_endpoint_counts_every_node(
    server_factory: ServerFactory, redis_url: str
) -> None:
    """In a cluster each node answers with the connections of all nodes."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    nodes = [
        await server_factory(broker_url=redis_url, redis_prefix=prefix, cluster_heartbeat_ttl=1.5)
        for _ in range(2)
    ]
    for node in nodes:
        await client_of(node)
    await client_of(nodes[0])
    path = f"/apps/{APP_ID}/connections"

    async def both_report_three() -> bool:
        async with aiohttp.ClientSession() as http:
            for node in nodes:
                async with http.get(signed_url(node.http_url, "GET", path)) as response:
                    if (await response.json()) != {"connections": 3}:
                        return False
        return True

    await eventually(both_report_three)
