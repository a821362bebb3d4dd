"""``tidings.Server`` inside an asyncio application: lifecycle listeners and ``trigger``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import websockets

import tidings
from tests.integration.conftest import KEY, TIMEOUT, PusherClient


async def test_embedded_server_emits_lifecycle_events_and_triggers() -> None:
    """A listener added with ``on`` sees a client's connection, channel and membership; the
    app's ``trigger`` reaches the client; stopping drains it with 4200."""
    seen: list[Any] = []
    async with tidings.Server(http_port=0, admin_port=0, shutdown_grace_period=1.0) as server:
        for name in ("connection_opened", "channel_occupied", "member_added", "subscribed"):
            server.on(name, seen.append)
        member = orjson.dumps({"user_id": "ann", "user_info": {"name": "Ann"}}).decode()
        async with websockets.connect(f"{server.ws_url}/app/{KEY}?protocol=7") as ws:
            established = orjson.loads(await ws.recv())
            client = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
            await client.subscribe("presence-lobby", channel_data=member)
            await server.trigger("presence-lobby", "greeting", {"hi": 1})
            event = await client.expect("greeting")
            assert event["data"] == {"hi": 1}
            kinds = [type(e) for e in seen]
            assert kinds == [
                tidings.ConnectionOpened,
                tidings.ChannelOccupied,
                tidings.Subscribed,
                tidings.MemberAdded,
            ]
            added = seen[-1]
            assert (added.user_id, added.info) == ("ann", {"name": "Ann"})
            await asyncio.wait_for(server.stop(), TIMEOUT)
            closing = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert orjson.loads(closing)["data"]["code"] == 4200
