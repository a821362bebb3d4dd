"""The admin listener: metrics and status JSON."""

from __future__ import annotations

import base64

import aiohttp

from tests.integration.conftest import ConnectFn, ServerFactory, publish
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


async def test_counts_follow_traffic(server: RunningServer, connect: ConnectFn) -> None:
    """Connections and deliveries show up in the node's figures."""
    client = await connect()
    await client.subscribe("stats")
    await publish(server, ["stats"], "e", "1")
    await client.expect("e")
    assert server.state.node.stats.deliveries >= 1
    assert len(server.state.connections) == 1
