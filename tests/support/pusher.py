"""In-process tidings servers on port 0 and a small Pusher-protocol test client.

The ``server_factory`` and ``server`` fixtures (registered by the tiers' conftest files)
start servers with :func:`tidings.server.runner.start_server` and shut every one down
after the test; ``open_client`` and ``connect`` open Pusher clients and close them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.fixtures.api import APP_ID as APP_ID
from tests.fixtures.api import KEY as KEY
from tests.fixtures.api import SECRET as SECRET
from tests.fixtures.api import signed_url as signed_url
from tidings.config import Settings
from tidings.protocol.signing import channel_auth
from tidings.server.runner import RunningServer, start_server

# Seconds any single expected event may take: generous, as it bounds the wait for an outcome
# (never asserts speed); servers in child processes run under coverage on a busy machine.
TIMEOUT = 15.0
#: ``cluster_heartbeat_ttl`` of cluster nodes that live through a test. One beat that comes
#: late (an event loop starved for over 2/3 x TTL on a loaded machine) lets peers reap a
#: live node: its occupancy and members are removed and added again, and their events and
#: webhooks come twice. Tests that kill a node give the nodes a short TTL instead.
STEADY_TTL = 30.0


class PusherClient:
    """A raw Pusher protocol v7 client over ``websockets``, for asserting on frames."""

    def __init__(self, ws: ClientConnection, socket_id: str, established: dict[str, Any]) -> None:
        self.ws = ws
        self.socket_id = socket_id
        self.established = established

    async def send(self, event: str, data: Any, channel: str | None = None) -> None:
        """Send one Pusher message."""
        message: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            message["channel"] = channel
        await self.ws.send(orjson.dumps(message).decode())

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message, decoded; ``data`` strings holding JSON are decoded too."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        message: dict[str, Any] = orjson.loads(raw)
        data = message.get("data")
        if isinstance(data, str):
            try:
                message["data"] = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        return message

    async def expect(self, event: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip messages until ``event`` arrives (pings are answered on the way)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {event} within {timeout} s")
            message = await self.recv(remaining)
            if message["event"] == event:
                return message

    async def subscribe(
        self, channel: str, *, auth: str | None = None, channel_data: str | None = None
    ) -> dict[str, Any]:
        """Subscribe (signing private/presence channels for the default app); await the reply."""
        data: dict[str, Any] = {"channel": channel}
        if channel.startswith(("private-", "presence-")):
            data["auth"] = auth or channel_auth(KEY, SECRET, self.socket_id, channel, channel_data)
        if channel_data is not None:
            data["channel_data"] = channel_data
        await self.send("pusher:subscribe", data)
        while True:
            reply = await self.recv()
            if reply["event"] in (
                "pusher_internal:subscription_succeeded",
                "pusher:subscription_error",
                "pusher:error",
            ):
                return reply


async def client(server: RunningServer) -> PusherClient:
    """A Pusher client connected to ``server`` (closed with the server)."""
    ws = await websockets.connect(f"{server.ws_url}/app/{KEY}?protocol=7")
    established = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})


ConnectFn = Callable[..., Awaitable[PusherClient]]
OpenClient = Callable[..., Awaitable[PusherClient]]
ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def server_factory() -> AsyncIterator[ServerFactory]:
    """Start servers with setting overrides; every one is shut down after the test."""
    started: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        overrides.setdefault("http_port", 0)
        overrides.setdefault("shutdown_grace_period", 1.0)
        running = await start_server(Settings.load(**overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.state.draining:
            await running.shutdown()


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    """A server with default settings on a free port."""
    return await server_factory()


@pytest.fixture
async def open_client() -> AsyncIterator[OpenClient]:
    """Open Pusher clients to any server (``await open_client(server, key, query)``), each
    checked to be established; every one is closed after the test."""
    clients: list[ClientConnection] = []

    async def open_one(
        server: RunningServer, key: str = KEY, query: str = "protocol=7"
    ) -> PusherClient:
        ws = await websockets.connect(f"{server.ws_url}/app/{key}?{query}", max_size=None)
        clients.append(ws)
        first = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert first["event"] == "pusher:connection_established", first
        data = orjson.loads(first["data"])
        return PusherClient(ws, data["socket_id"], data)

    yield open_one
    for ws in clients:
        await ws.close()


@pytest.fixture
def connect(server: RunningServer, open_client: OpenClient) -> ConnectFn:
    """Open Pusher clients to ``server``; they are closed after the test."""
    return functools.partial(open_client, server)


async def publish(
    server: RunningServer, channels: list[str], event: str, data: str, **fields: Any
) -> tuple[int, Any]:
    """Trigger an event through the signed HTTP API; returns (status, JSON body)."""
    body = orjson.dumps({"name": event, "channels": channels, "data": data, **fields})
    url = signed_url(server.http_url, "POST", f"/apps/{APP_ID}/events", body)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            return response.status, await response.json(content_type=None)


async def nothing_before_barrier(server: RunningServer, client: PusherClient, channel: str) -> None:
    """Assert nothing reached ``client`` before a barrier event published now on ``channel``
    (which ``client`` is on): one node delivers in publish order, so anything sent earlier
    would arrive first. No waiting for "nothing"."""
    await publish(server, [channel], "test-barrier", '"barrier"')
    message = await client.recv()
    assert message["event"] == "test-barrier", f"unexpected message before the barrier: {message}"


async def close_and_wait(server: RunningServer, client: PusherClient) -> None:
    """Close ``client`` and wait until ``server`` has fully forgotten it (its
    ``connection_closed`` event comes after every unsubscribe and member change)."""
    gone = asyncio.Event()

    def closed(event: Any) -> None:
        if event.socket_id == client.socket_id:
            gone.set()

    remove = server.bus.on("connection_closed", closed)
    try:
        await client.ws.close()
        await asyncio.wait_for(gone.wait(), TIMEOUT)
    finally:
        remove()
