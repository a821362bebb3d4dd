"""``max_connections`` is one limit for the whole cluster, not one per node."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import websockets

from tests.integration.conftest import KEY, SECRET, TIMEOUT, ServerFactory, eventually
from tests.support.redis import delete_redis_keys
from tidings.server.runner import RunningServer

TTL = 1.5  # cluster_heartbeat_ttl of test nodes: they beat every 0.5 s
LIMITED = [{"id": "1", "key": KEY, "secret": SECRET, "max_connections": 2}]


async def _open(server: RunningServer) -> tuple[websockets.ClientConnection, dict[str, Any]]:
    ws = await websockets.connect(f"{server.ws_url}/app/{KEY}?protocol=7")
    first: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return ws, first


async def test_single_node_limit_refuses_with_4004(server_factory: ServerFactory) -> None:
    server = await server_factory(apps=LIMITED)
    opened = [await _open(server) for _ in range(2)]
    assert all(first["event"] == "pusher:connection_established" for _, first in opened)
    ws, first = await _open(server)
    assert first["event"] == "pusher:error" and first["data"]["code"] == 4004
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    assert ws.close_code == 4004
    for other, _ in opened:
        await other.close()


async def test_limit_counts_the_connections_of_every_node(
    server_factory: ServerFactory, redis_url: str
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = {"broker_url": redis_url, "redis_prefix": prefix, "cluster_heartbeat_ttl": TTL}
    try:
        a = await server_factory(apps=LIMITED, **settings)
        b = await server_factory(apps=LIMITED, **settings)
        on_a = [await _open(a) for _ in range(2)]
        assert all(first["event"] == "pusher:connection_established" for _, first in on_a)
        refusals: list[dict[str, Any]] = []

        async def b_answers(event: str) -> bool:
            ws, first = await _open(b)
            await ws.close()
            if first["event"] == "pusher:error":
                refusals.append(first)
            return bool(first["event"] == event)

        # Heartbeats carry the counts, so B learns of A's two within a bounded wait.
        await eventually(lambda: b_answers("pusher:error"))
        assert refusals[-1]["data"]["code"] == 4004
        assert "on other nodes" in refusals[-1]["data"]["message"]
        for conn, _ in on_a:
            await conn.close()
        await eventually(lambda: b_answers("pusher:connection_established"))
    finally:
        delete_redis_keys(redis_url, prefix)
