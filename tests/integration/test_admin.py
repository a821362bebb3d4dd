"""The admin listener: metrics and status JSON."""

from __future__ import annotations

import base64

import aiohttp
import orjson
import websockets

from tests.integration.conftest import KEY, ConnectFn, PusherClient, ServerFactory, publish
from tidings.server.runner import RunningServer


async def test_status_and_metrics(server_factory: ServerFactory, connect: ConnectFn) -> None:
    """/api/status reports node, broker and per-app figures; /metrics exports them."""
    running: RunningServer = await server_factory(admin_port=0)
    assert running.admin_url is not None
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.admin_url}/api/status") as response:
            status = await response.json()
        assert status["node_id"] == running.state.node.node_id
        assert status["broker"]["healthy"] is True
        assert status["connections"] == 0
        async with http.get(f"{running.admin_url}/metrics") as response:
            text = await response.text()
        assert "tidings_broker_up 1.0" in text


async def test_admin_password(server_factory: ServerFactory) -> None:
    """With admin_password set, requests without basic auth get 401 JSON."""
    running = await server_factory(admin_port=0, admin_password="s3cret")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.admin_url}/api/status") as response:
            assert response.status == 401
            assert "password" in (await response.json())["error"]
        token = base64.b64encode(b"admin:s3cret").decode()
        headers = {"Authorization": f"Basic {token}"}
        async with http.get(f"{running.admin_url}/api/status", headers=headers) as response:
            assert response.status == 200
        bearer = {"Authorization": "Bearer s3cret"}
        async with http.get(f"{running.admin_url}/metrics", headers=bearer) as response:
            assert response.status == 200
        wrong = {"Authorization": "Bearer nope"}
        async with http.get(f"{running.admin_url}/metrics", headers=wrong) as response:
            assert response.status == 401


async def test_counts_follow_traffic(server_factory: ServerFactory) -> None:
    """A connection, its channel and a delivery show up in /api/status and /metrics (read
    over HTTP as an operator would, not from the server's internals)."""
    running = await server_factory(admin_port=0)
    async with (
        websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7") as ws,
        aiohttp.ClientSession() as http,
    ):
        established = orjson.loads(await ws.recv())
        client = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
        await client.subscribe("stats")
        await publish(running, ["stats"], "e", "1")
        await client.expect("e")
        async with http.get(f"{running.admin_url}/api/status") as response:
            status = await response.json()
        async with http.get(f"{running.admin_url}/api/apps/1/channels") as response:
            channels = await response.json()
        async with http.get(f"{running.admin_url}/metrics") as response:
            metrics = await response.text()
    assert status["connections"] == 1
    assert status["deliveries"] >= 1 and status["publications"] >= 1
    (app,) = [app for app in status["apps"] if app["id"] == "1"]
    assert app == {
        "id": "1",
        "enabled": True,
        "connections": 1,
        "channels": 1,
        "api_events": 1,
        "client_events": 0,
        "webhooks": 0,
    }
    assert channels == {"channels": {"stats": 1}, "user_counts": {}, "history": {}}
    assert 'tidings_connections{app_id="1"} 1.0' in metrics
    assert "tidings_deliveries_total" in metrics
