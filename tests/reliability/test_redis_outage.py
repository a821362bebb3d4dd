"""Redis killed and restarted under two nodes: what a 2xx promised is delivered.

Node A answers 200 to publishes while Redis is down, holds them, and sends them
once Redis is back and node B has re-subscribed: B's subscriber gets every one,
in order, once. When A's buffer is full it answers 503 with Retry-After and
delivers nothing of the refused event, so a retry cannot duplicate it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fixtures.api import APP_ID
from tests.support.pusher import PusherClient, ServerFactory, client, signed_url
from tests.support.redis import RedisServer
from tests.support.timing import bound
from tests.support.waiting import eventually
from tidings.server.runner import RunningServer


async def post_event(server: RunningServer, channel: str, data: str) -> tuple[int, Any, str]:
    """Publish through the signed HTTP API: (status, JSON body, Retry-After header)."""
    body = orjson.dumps({"name": "e", "channels": [channel], "data": data})
    url = signed_url(server.http_url, "POST", f"/apps/{APP_ID}/events", body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        return (
            response.status,
            await response.json(content_type=None),
            response.headers.get("Retry-After", ""),
        )


async def events_until(sub: PusherClient, last: str, seconds: float = 10.0) -> list[str]:
    """The data of every ``e`` event up to and including ``last``."""
    seen: list[str] = []
    while not seen or seen[-1] != last:
        message = await sub.expect("e", timeout=seconds)
        seen.append(message["data"] if isinstance(message["data"], str) else str(message["data"]))
    return seen


async def two_nodes(
    server_factory: ServerFactory, own_redis: RedisServer, **overrides: Any
) -> tuple[RunningServer, RunningServer]:
    nodes = []
    for name in ("a", "b"):
        nodes.append(
            await server_factory(
                broker_url=own_redis.url,
                node_id=f"outage-{name}",
                redis_prefix="rel-outage",
                **overrides,
            )
        )
    return nodes[0], nodes[1]


@pytest.mark.timing
async def test_publishes_accepted_during_an_outage_all_arrive_once_in_order(
    server_factory: ServerFactory, own_redis: RedisServer
) -> None:
    """300 publishes answered 200 while Redis is down all reach the other node's
    subscriber after Redis returns, in order, none twice, within 2 s of its return."""
    a, b = await two_nodes(server_factory, own_redis)
    sub = await client(b)
    await sub.subscribe("outage")
    assert (await post_event(a, "outage", "before"))[0] == 200
    assert await events_until(sub, "before") == ["before"]

    own_redis.kill()
    await eventually(lambda: not a.state.node.broker.healthy, 10.0, "node A sees Redis down")
    sent = [f"during-{i}" for i in range(300)]
    for data in sent:
        status, body, _ = await post_event(a, "outage", data)
        assert status == 200, body
    own_redis.start()
    back = time.monotonic()
    first = await sub.expect("e", timeout=10)
    resumed = time.monotonic() - back
    rest = await events_until(sub, sent[-1])
    assert [first["data"], *rest] == sent  # every one, in order, none twice
    bound("delivery resumed after Redis returned", resumed, 2.0)
    # And new publishes flow normally after the held ones.
    assert (await post_event(a, "outage", "after"))[0] == 200
    assert await events_until(sub, "after") == ["after"]
    await sub.ws.close()


async def test_full_buffer_answers_503_and_delivers_nothing_of_it(
    server_factory: ServerFactory, own_redis: RedisServer
) -> None:
    """Past broker_buffer_bytes: 503 JSON with Retry-After; the refused event reaches no
    one (not even A's own subscriber), the accepted ones reach both nodes."""
    a, b = await two_nodes(server_factory, own_redis, broker_buffer_bytes=4096)
    local, remote = await client(a), await client(b)
    await local.subscribe("full")
    await remote.subscribe("full")
    own_redis.kill()
    await eventually(lambda: not a.state.node.broker.healthy, 10.0, "node A sees Redis down")
    accepted: list[str] = []
    for i in range(1000):
        status, body, retry_after = await post_event(a, "full", f"event-{i}")
        if status == 503:
            break
        assert status == 200, body
        accepted.append(f"event-{i}")
    else:
        raise AssertionError("the buffer never filled up")
    assert body["error"] and body["hint"]
    assert int(retry_after) >= 1
    assert 10 < len(accepted) < 100  # ~4 KiB of payloads
    own_redis.start()
    for _ in range(10):  # a client that honours Retry-After gets through once A flushed
        status, body, retry_after = await post_event(a, "full", "barrier")
        if status != 503:
            break
        await asyncio.sleep(int(retry_after))
    assert status == 200, body
    refused = f"event-{len(accepted)}"
    for sub in (local, remote):
        seen = await events_until(sub, "barrier")
        assert refused not in seen
        assert seen == [*accepted, "barrier"]
    await local.ws.close()
    await remote.ws.close()
