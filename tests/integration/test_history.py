"""Channel history end to end on one node: positions on frames, recovery on subscribe.

Real server on port 0, raw Pusher clients (DESIGN.md 8.1).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import orjson
import pytest
import websockets

from tests.integration.conftest import (
    APP_ID,
    KEY,
    SECRET,
    TIMEOUT,
    PusherClient,
    ServerFactory,
    publish,
    signed_url,
)
from tidings.client import AsyncClient, ClientError
from tidings.server.runner import RunningServer

HISTORY = {"default_app_history_channels": ["chat-"], "default_app_history_size": 10}


async def open_client(server: RunningServer) -> PusherClient:
    ws = await websockets.connect(f"{server.ws_url}/app/{KEY}?protocol=7", max_size=None)
    first = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    data = orjson.loads(first["data"])
    return PusherClient(ws, data["socket_id"], data)


async def subscribe_raw(client: PusherClient, channel: str, **extra: Any) -> None:
    await client.send("pusher:subscribe", {"channel": channel, **extra})


async def has_metric(server: RunningServer, line: str) -> None:
    """The admin listener's /metrics has ``line`` (the counters are updated synchronously)."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.admin_url}/metrics") as r:
        text = await r.text()
    assert line in text.splitlines(), [s for s in text.splitlines() if "history" in s]


async def until(client: PusherClient, event: str) -> list[dict[str, Any]]:
    """Every message up to and including the first ``event``."""
    seen = []
    while True:
        message = await client.recv()
        seen.append(message)
        if message["event"] == event:
            return seen


async def test_frames_carry_serial_and_confirmation_the_position(
    server_factory: ServerFactory,
) -> None:
    """Events of a history channel carry serial/stream_id; others are unchanged."""
    server = await server_factory(**HISTORY)
    client = await open_client(server)
    try:
        ok = await client.subscribe("chat-1")
        assert ok["serial"] == 0 and ok["data"]["serial"] == 0 and "recovered" not in ok
        plain = await client.subscribe("news")
        assert "serial" not in plain and plain["data"] == {}
        await publish(server, ["chat-1", "news"], "msg", '"a"')
        first, second = await client.recv(), await client.recv()
        by_channel = {first["channel"]: first, second["channel"]: second}
        assert by_channel["chat-1"]["serial"] == 1
        stream = by_channel["chat-1"]["stream_id"]
        assert "serial" not in by_channel["news"]
        again = await open_client(server)
        ok = await again.subscribe("chat-1")
        assert (ok["serial"], ok["stream_id"]) == (1, stream)
        await again.ws.close()
    finally:
        await client.ws.close()


async def test_recovery_replays_missed_events_before_the_confirmation(
    server_factory: ServerFactory,
) -> None:
    """A position replays every kept event after it, in order, then recovered: true."""
    server = await server_factory(**HISTORY)
    client = await open_client(server)
    ok = await client.subscribe("chat-r")
    assert (ok["serial"], ok["stream_id"]) == (0, "0" * 16)  # no stream yet
    for i in range(3):
        await publish(server, ["chat-r"], "msg", f'"{i}"')
    seen = [await client.recv() for _ in range(3)]
    assert [m["serial"] for m in seen] == [1, 2, 3]
    stream = seen[-1]["stream_id"]
    await client.ws.close()
    for i in range(3, 8):
        await publish(server, ["chat-r"], "msg", f'"{i}"')
    back = await open_client(server)
    await subscribe_raw(back, "chat-r", position={"serial": 3, "stream_id": stream})
    got = await until(back, "pusher_internal:subscription_succeeded")
    assert [(m["serial"], m["data"]) for m in got[:-1]] == [(n, str(n - 1)) for n in range(4, 9)]
    confirmation = got[-1]
    assert confirmation["recovered"] is True and confirmation["serial"] == 8
    assert confirmation["data"]["recovered"] is True
    await publish(server, ["chat-r"], "msg", '"live"')
    live = await back.recv()
    assert live["serial"] == 9 and live["data"] == "live"
    await back.ws.close()
    fresh = await open_client(server)  # it saw the channel before its stream began
    await subscribe_raw(fresh, "chat-r", position={"serial": 0, "stream_id": "0" * 16})
    got = await until(fresh, "pusher_internal:subscription_succeeded")
    assert [m["serial"] for m in got[:-1]] == list(range(1, 10)) and got[-1]["recovered"]
    await fresh.ws.close()


async def test_no_partial_replay_when_the_gap_is_not_kept(server_factory: ServerFactory) -> None:
    """A gap longer than history_size, or another stream: nothing replayed, recovered: false."""
    server = await server_factory(**HISTORY)
    for i in range(15):
        await publish(server, ["chat-g"], "msg", f'"{i}"')
    client = await open_client(server)
    ok = await client.subscribe("chat-g")
    stream = ok["stream_id"]
    assert ok["serial"] == 15
    await subscribe_raw(client, "chat-g", position={"serial": 2, "stream_id": stream})
    got = await until(client, "pusher_internal:subscription_succeeded")
    assert len(got) == 1 and got[0]["recovered"] is False and got[0]["serial"] == 15
    other = await open_client(server)
    await subscribe_raw(other, "chat-g", position={"serial": 14, "stream_id": "f" * 16})
    got = await until(other, "pusher_internal:subscription_succeeded")
    assert len(got) == 1 and got[0]["recovered"] is False
    fine = await open_client(server)
    await has_metric(server, 'tidings_history_recoveries_total{outcome="not_recovered"} 2.0')
    await subscribe_raw(fine, "chat-g", position={"serial": 5, "stream_id": stream})
    got = await until(fine, "pusher_internal:subscription_succeeded")
    assert [m["serial"] for m in got[:-1]] == list(range(6, 16)) and got[-1]["recovered"]
    await has_metric(server, 'tidings_history_recoveries_total{outcome="recovered"} 1.0')
    await has_metric(server, "tidings_history_events_replayed_total 10.0")
    for c in (client, other, fine):
        await c.ws.close()


async def test_bad_position_is_a_subscription_error(server: RunningServer) -> None:
    """A malformed position refuses that subscribe only; the connection carries on."""
    client = await open_client(server)
    await subscribe_raw(client, "chat-x", position={"serial": -1, "stream_id": "0" * 16})
    error = await client.recv()
    assert error["event"] == "pusher:subscription_error"
    assert "position.serial" in error["data"]["error"]
    ok = await client.subscribe("news")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    await client.ws.close()


async def test_http_history_api_signed_like_every_get(server_factory: ServerFactory) -> None:
    """GET .../history with the SDK's signing: position, events, complete; limit/after_serial."""
    server = await server_factory(**HISTORY)
    for i in range(12):
        await publish(server, ["chat-h"], "msg", f'"{i}"')
    async with AsyncClient(APP_ID, KEY, SECRET, url=server.http_url) as api:
        page = await api.history("chat-h")
        assert page.serial == 12 and len(page.stream_id) == 16
        assert [e["serial"] for e in page.events] == list(range(3, 13))
        assert not page.complete  # 1 and 2 were dropped (history_size 10)
        assert page.events[0]["event"] == "msg" and page.events[0]["data"] == '"2"'
        assert isinstance(page.events[0]["published_at_ms"], int)
        window = await api.history("chat-h", after_serial=5, limit=3)
        assert [e["serial"] for e in window.events] == [6, 7, 8] and window.complete
        with pytest.raises(ClientError) as refused:
            await api.history("news")
        assert "keeps no history" in str(refused.value)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=abc", "limit='abc' is not a whole number"),
        ("limit=0", "limit=0 is out of range"),
        ("limit=1001", "limit=1001 is out of range"),
        ("after_serial=-1", "after_serial='-1' is not a whole number"),
    ],
)
async def test_http_history_garbage_is_400_with_a_hint(
    server_factory: ServerFactory, query: str, message: str
) -> None:
    """Bad parameters: 400 JSON {"error", "hint"}; nothing else happens."""
    server = await server_factory(**HISTORY)
    params = dict(part.split("=") for part in query.split("&"))
    path = f"/apps/{APP_ID}/channels/chat-1/history"
    url = signed_url(server.http_url, "GET", path, b"", extra=params)
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json()
    assert response.status == 400 and message in body["error"] and body["hint"]


async def test_channel_info_cache(server: RunningServer) -> None:
    """info=cache: the last event's data and its TTL on cache channels; 400 elsewhere."""
    await publish(server, ["cache-scores"], "score", '"3-1"')

    async def info(channel: str) -> tuple[int, Any]:
        path = f"/apps/{APP_ID}/channels/{channel}"
        url = signed_url(server.http_url, "GET", path, b"", extra={"info": "cache"})
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status, await response.json()

    status, body = await info("cache-scores")
    assert status == 200 and body["cache"]["data"] == '"3-1"'
    assert 1790 <= body["cache"]["ttl"] <= 1800
    status, body = await info("cache-empty")
    assert status == 200 and "cache" not in body
    status, body = await info("news")
    assert status == 400 and "only available for cache channels" in body["error"]
    assert body["hint"]


async def two_redis_nodes(
    server_factory: ServerFactory, redis_url: str
) -> tuple[RunningServer, RunningServer]:
    prefix = f"hist-{uuid.uuid4().hex[:8]}"
    nodes = [
        await server_factory(
            broker_url=redis_url, redis_prefix=prefix, node_id=f"{prefix}-{n}", **HISTORY
        )
        for n in ("a", "b")
    ]
    return nodes[0], nodes[1]


async def test_recovery_on_the_other_node_of_a_redis_cluster(
    server_factory: ServerFactory, redis_url: str
) -> None:
    """Positions are the cluster's: a client of node A recovers on node B."""
    node_a, node_b = await two_redis_nodes(server_factory, redis_url)
    first = await open_client(node_a)
    await first.subscribe("chat-c")
    for i in range(3):
        await publish(node_b, ["chat-c"], "msg", f'"{i}"')
    seen = [await first.recv() for _ in range(3)]
    assert [m["serial"] for m in seen] == [1, 2, 3]
    await first.ws.close()
    for i in range(3, 6):
        await publish(node_a, ["chat-c"], "msg", f'"{i}"')
    back = await open_client(node_b)
    position = {"serial": 3, "stream_id": seen[-1]["stream_id"]}
    await subscribe_raw(back, "chat-c", position=position)
    got = await until(back, "pusher_internal:subscription_succeeded")
    assert [m["serial"] for m in got[:-1]] == [4, 5, 6] and got[-1]["recovered"] is True
    await publish(node_a, ["chat-c"], "msg", '"live"')
    assert (await back.recv())["serial"] == 7
    await back.ws.close()


async def test_publications_racing_a_recovery_arrive_once_in_order(
    server_factory: ServerFactory, redis_url: str
) -> None:
    """While a client recovers, publications keep coming: no gap, no duplicate, in order."""
    node_a, node_b = await two_redis_nodes(server_factory, redis_url)
    watcher = await open_client(node_b)  # keeps node B subscribed to the channel
    await watcher.subscribe("chat-race")
    await publish(node_a, ["chat-race"], "msg", '"0"')
    stream = (await watcher.recv())["stream_id"]
    total = 60

    async def burst() -> None:
        for i in range(1, total):
            await publish(node_a, ["chat-race"], "msg", f'"{i}"')

    publishing = asyncio.create_task(burst())
    clients = []
    for _ in range(4):  # several recoveries at different points of the burst
        client = await open_client(node_b)
        await subscribe_raw(client, "chat-race", position={"serial": 1, "stream_id": stream})
        clients.append(client)
        await asyncio.sleep(0)
    await publishing
    for client in clients:
        serials: list[int] = []
        confirmed_at = None  # how many events came before the confirmation, and its serial
        while not serials or serials[-1] < total:
            message = await client.recv()
            if message["event"] == "pusher_internal:subscription_succeeded":
                assert message["recovered"] is True
                confirmed_at = (len(serials), message["serial"])
            elif message["event"] == "msg":
                serials.append(message["serial"])
        assert serials == list(range(2, total + 1))
        assert confirmed_at is not None
        replayed, head = confirmed_at
        assert replayed == 0 or serials[replayed - 1] <= head
        assert all(serial > head for serial in serials[replayed:])
        await client.ws.close()
    watched = [(await watcher.recv())["serial"] for _ in range(1, total)]
    assert watched == list(range(2, total + 1))
    await watcher.ws.close()


async def test_recovery_on_a_cache_channel_does_not_send_the_last_event_twice(
    server_factory: ServerFactory,
) -> None:
    """The replay has the cache channel's last event: no cached copy after the confirmation."""
    server = await server_factory(default_app_history_channels=["cache-"])
    client = await open_client(server)
    await client.subscribe("cache-feed")
    await publish(server, ["cache-feed"], "msg", '"a"')
    first = await client.expect("msg")  # after pusher:cache_miss
    await client.ws.close()
    await publish(server, ["cache-feed"], "msg", '"b"')
    back = await open_client(server)
    position = {"serial": first["serial"], "stream_id": first["stream_id"]}
    await subscribe_raw(back, "cache-feed", position=position)
    got = await until(back, "pusher_internal:subscription_succeeded")
    assert [m["data"] for m in got[:-1]] == ["b"] and got[-1]["recovered"] is True
    await publish(server, ["cache-feed"], "msg", '"c"')
    assert (await back.recv())["data"] == "c"  # nothing (no cached "b") before it
    await back.ws.close()
