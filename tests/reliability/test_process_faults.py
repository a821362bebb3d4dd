"""SIGTERM under load and `kill -9` of a cluster node, against real `tidings serve` processes."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.node import publish_to
from tests.support.pusher import KEY, TIMEOUT, PusherClient
from tests.support.redis import RedisServer
from tests.support.serve import StartServe
from tests.support.timing import bound

CLIENTS = 200
EVENTS = 50


async def subscribed(url: str, channel: str) -> ClientConnection:
    ws = await websockets.connect(f"{url}/app/{KEY}?protocol=7", max_size=None)
    await asyncio.wait_for(ws.recv(), TIMEOUT)
    await ws.send(
        orjson.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}).decode()
    )
    reply = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply
    return ws


async def until_closed(ws: ClientConnection) -> tuple[list[str], list[int], int | None]:
    """Every event's data, every pusher:error code, then the close code."""
    events: list[str] = []
    errors: list[int] = []
    try:
        while True:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if message["event"] == "load":
                events.append(message["data"])
            elif message["event"] == "pusher:error":
                errors.append(message["data"]["code"])
    except ConnectionClosed as closed:
        return events, errors, closed.rcvd.code if closed.rcvd else None


@pytest.mark.timing
async def test_sigterm_under_load_drains_every_client_and_loses_nothing(serve: StartServe) -> None:
    """200 subscribers, 50 accepted events, SIGTERM: each client got all 50 in order, then
    one pusher:error 4200 and close 4200; the process exits 0 (well within its grace
    period: asserted by make reliability)."""
    process = await serve({"TIDINGS_SHUTDOWN_GRACE_PERIOD": "10"})
    try:
        clients = [await subscribed(process.ws_url, "load") for _ in range(CLIENTS)]
        for i in range(EVENTS):
            await publish_to(process.http_url, ["load"], "load", str(i))
        readers = [asyncio.create_task(until_closed(ws)) for ws in clients]
        signalled = time.monotonic()
        process.terminate()
        results = await asyncio.gather(*readers)
        assert await process.stop() == 0
        drained = time.monotonic() - signalled
    finally:
        await process.kill()
    expected = [str(i) for i in range(EVENTS)]
    for events, errors, code in results:
        assert events == expected
        assert errors == [4200] and code == 4200
    bound("SIGTERM to exit, 200 clients drained", drained, 5)


@pytest.mark.timing
async def test_killed_node_under_load_costs_the_survivor_nothing(
    own_redis: RedisServer, serve: StartServe
) -> None:
    """Node B is killed (-9) while node A publishes: A's subscriber gets every event A
    accepted, and member_removed for B's user (within the heartbeat bound: asserted by
    make reliability)."""
    ttl = 1.5
    env = {
        "TIDINGS_BROKER_URL": own_redis.url,
        "TIDINGS_REDIS_PREFIX": f"rel-{uuid.uuid4().hex[:8]}",
        "TIDINGS_CLUSTER_HEARTBEAT_TTL": str(ttl),
    }
    a = await serve(env)
    b = await serve(env)
    try:
        watcher_ws = await websockets.connect(f"{a.ws_url}/app/{KEY}?protocol=7")
        first = orjson.loads(await asyncio.wait_for(watcher_ws.recv(), TIMEOUT))
        watcher = PusherClient(watcher_ws, orjson.loads(first["data"])["socket_id"], {})
        doomed_ws = await websockets.connect(f"{b.ws_url}/app/{KEY}?protocol=7")
        first = orjson.loads(await asyncio.wait_for(doomed_ws.recv(), TIMEOUT))
        doomed = PusherClient(doomed_ws, orjson.loads(first["data"])["socket_id"], {})
        await watcher.subscribe("presence-load", channel_data='{"user_id":"watcher"}')
        await doomed.subscribe("presence-load", channel_data='{"user_id":"doomed"}')
        await watcher.expect("pusher_internal:member_added")

        async def publish_all() -> None:
            for i in range(EVENTS):
                await publish_to(a.http_url, ["presence-load"], "load", str(i))

        publishing = asyncio.create_task(publish_all())
        await asyncio.sleep(0)  # let the first publishes start
        await b.kill()
        killed = time.monotonic()
        await publishing
        seen: list[str] = []
        removed_at = None
        while len(seen) < EVENTS or removed_at is None:
            message = await watcher.recv(timeout=4 * ttl + 5)
            if message["event"] == "load":
                seen.append(str(message["data"]))
            elif message["event"] == "pusher_internal:member_removed":
                assert message["data"]["user_id"] == "doomed"
                removed_at = time.monotonic()
        assert [int(x) for x in seen] == list(range(EVENTS))
        bound("member_removed after kill -9 of its node", removed_at - killed, 4 / 3 * ttl + 2)
        await watcher_ws.close()
    finally:
        await b.kill()
        await a.stop()
