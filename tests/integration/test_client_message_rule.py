"""The client-message rule (tidings.core.client_messages) over real sockets.

A message a client sends, whatever its protocol, reaches Pusher subscribers only as a
Pusher client event (``client-*``, private/presence, not encrypted) and is never kept as
a cache channel's last event; PieSocket clients still message each other. Negative
checks use a barrier: an HTTP publish after the forged message arrives first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import redis.asyncio
import websockets
from websockets.asyncio.client import ClientConnection

from tests.integration.conftest import (
    KEY,
    SECRET,
    TIMEOUT,
    PusherClient,
    ServerFactory,
    client,
    publish,
)
from tests.support.redis import delete_redis_keys
from tidings.broker.redis_keys import channel_key
from tidings.protocol.piesocket.auth import make_token
from tidings.server.runner import RunningServer

V3Open = Callable[..., Awaitable[ClientConnection]]


@pytest.fixture
async def v3_open() -> AsyncIterator[V3Open]:
    """Open raw PieSocket v3 clients to any server; closed after the test."""
    opened: list[ClientConnection] = []

    async def open_v3(server: RunningServer, channel: str, **params: str) -> ClientConnection:
        query = "&".join(f"{k}={v}" for k, v in {"api_key": KEY, **params}.items())
        ws = await websockets.connect(f"{server.ws_url}/v3/{channel}?{query}")
        opened.append(ws)
        assert await v3_recv(ws) == {"event": "system:boot"}  # accepted: ready
        return ws

    yield open_v3
    for ws in opened:
        await ws.close()


async def v3_recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return message


async def v3_send(ws: ClientConnection, event: str, data: Any) -> None:
    await ws.send(orjson.dumps({"event": event, "data": data, "meta": None}).decode())


def token(channel: str, user: str = "ann") -> str:
    return make_token(secret=SECRET, channel=channel, now=time.time(), user=user)


async def next_event(pusher: PusherClient) -> dict[str, Any]:
    """The next message that is not a ping."""
    while (message := await pusher.recv())["event"] == "pusher:ping":
        await pusher.send("pusher:pong", {})
    return message


async def barrier_first(server: RunningServer, pusher: PusherClient, channel: str) -> None:
    """Publish a backend barrier on ``channel``: it must be the next event ``pusher`` sees."""
    status, _ = await publish(server, [channel], "barrier", '"b"')
    assert status == 200
    message = await next_event(pusher)
    assert message["event"] == "barrier", f"forged message reached pusher-js: {message}"


async def test_v3_message_on_public_channel_reaches_v3_but_never_pusher(
    server: RunningServer, v3_open: V3Open
) -> None:
    pusher = await client(server)
    await pusher.subscribe("orders")
    sender, peer = await v3_open(server, "orders"), await v3_open(server, "orders")
    await v3_send(sender, "order-shipped", {"id": 1})
    await v3_send(sender, "client-order-shipped", {"id": 2})
    assert (await v3_recv(peer))["data"] == {"id": 1}  # PieSocket-to-PieSocket still works
    assert (await v3_recv(peer))["data"] == {"id": 2}
    await barrier_first(server, pusher, "orders")


async def test_v3_message_on_private_channel_reaches_pusher_only_as_client_event(
    server: RunningServer, v3_open: V3Open
) -> None:
    pusher = await client(server)
    await pusher.subscribe("private-ops")
    sender = await v3_open(server, "private-ops", jwt=token("private-ops"))
    await v3_send(sender, "deploy-done", {"forged": True})  # not client-*: PieSocket only
    await v3_send(sender, "client-typing", {"who": "ann"})
    message = await next_event(pusher)
    assert message["event"] == "client-typing" and message["channel"] == "private-ops"
    assert message["data"] == {"who": "ann"}
    await barrier_first(server, pusher, "private-ops")


async def test_v3_message_on_encrypted_channel_never_reaches_pusher(
    server: RunningServer, v3_open: V3Open
) -> None:
    channel = "private-encrypted-x"
    pusher = await client(server)
    assert (await pusher.subscribe(channel))["event"] == "pusher_internal:subscription_succeeded"
    peer = await v3_open(server, channel, jwt=token(channel, "bob"))
    sender = await v3_open(server, channel, jwt=token(channel))
    await v3_send(sender, "client-plain", {"not": "ciphertext"})
    assert (await v3_recv(peer))["event"] == "client-plain"  # published: PieSocket got it
    await barrier_first(server, pusher, channel)


async def test_client_messages_need_the_apps_switch_for_every_wire(
    server_factory: ServerFactory, v3_open: V3Open
) -> None:
    server = await server_factory(default_app_enable_client_messages=False)
    peer = await v3_open(server, "quiet")
    sender = await v3_open(server, "quiet")
    await v3_send(sender, "hello", 1)
    assert "disabled" in (await v3_recv(sender))["error"]
    await publish(server, ["quiet"], "barrier", '"b"')
    assert (await v3_recv(peer))["event"] == "barrier"


async def test_v3_message_is_never_a_cache_channels_last_event(
    server: RunningServer, v3_open: V3Open
) -> None:
    peer = await v3_open(server, "cache-orders")
    sender = await v3_open(server, "cache-orders")
    await v3_send(sender, "order-shipped", {"forged": True})
    await v3_send(sender, "client-x", {"forged": True})
    assert (await v3_recv(peer))["event"] == "order-shipped"
    assert (await v3_recv(peer))["event"] == "client-x"
    late = await client(server)
    await late.subscribe("cache-orders")
    assert (await next_event(late))["event"] == "pusher:cache_miss"
    late_v3 = await v3_open(server, "cache-orders")  # a cached event would come first
    await publish(server, ["cache-orders"], "barrier", '"b"')
    assert (await v3_recv(late_v3))["event"] == "barrier"


async def test_pusher_client_event_is_never_a_cache_channels_last_event(
    server: RunningServer,
) -> None:
    sender = await client(server)
    await sender.subscribe("private-cache-room")
    await sender.send("client-note", {"forged": True}, channel="private-cache-room")
    await sender.send("pusher:ping", {})
    await sender.expect("pusher:pong")  # the server handled the client event before the ping
    newcomer = await client(server)
    await newcomer.subscribe("private-cache-room")
    assert (await next_event(newcomer))["event"] == "pusher:cache_miss"


async def test_rule_holds_across_redis_nodes(
    server_factory: ServerFactory, redis_url: str, v3_open: V3Open
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    try:
        a = await server_factory(broker_url=redis_url, redis_prefix=prefix)
        b = await server_factory(broker_url=redis_url, redis_prefix=prefix)
        v3_b = await v3_open(b, "orders", presence="1")
        assert (await v3_recv(v3_b))["event"] == "system:member_list"  # subscribed in Redis
        pusher_b = await client(b)
        await pusher_b.subscribe("orders")
        await pusher_b.subscribe("private-ops")
        on_a = await v3_open(a, "orders")
        await v3_send(on_a, "order-shipped", {"id": 1})
        assert (await v3_recv(v3_b))["data"] == {"id": 1}  # PieSocket across nodes
        private_a = await v3_open(a, "private-ops", jwt=token("private-ops"))
        await v3_send(private_a, "client-typing", {"who": "ann"})
        # Node A publishes in order: a forged event would reach pusher_b first.
        assert (await next_event(pusher_b))["event"] == "client-typing"
        cache_a = await v3_open(a, "cache-orders", notify_self="1")
        await v3_send(cache_a, "order-shipped", {"forged": True})
        assert (await v3_recv(cache_a))["event"] == "order-shipped"
        await barrier_first(a, pusher_b, "orders")  # A's cache write would precede it
        stored = redis.asyncio.Redis.from_url(redis_url)
        try:
            assert await stored.get(channel_key(prefix, "cache", "1", "cache-orders")) is None
        finally:
            await stored.aclose()
    finally:
        delete_redis_keys(redis_url, prefix)
