"""Apps changed at run time with `tidings apps`, seen by pusher-js and the PyPI SDK.

Three deployments: two `tidings serve` nodes over Redis sharing a PostgreSQL
database, the same over a MySQL (MariaDB) database, and one node with its SQLite
file and nothing else. In each, an app
created with the CLI is usable on every node within 2 s; rotating its secret
makes the old one fail on every node (HTTP API and channel auth of connections
already open); disabling it closes the open pusher-js connections with 4003 and
refuses new ones; deleting it makes its key unknown (4001).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pusher
import pusher.errors
import pytest
import websockets

from tests.conformance.conftest import (
    Cluster,
    Launch,
    NodeDriver,
    ServeProcesses,
    sdk,
    tidings_apps,
)
from tests.support.timing import bound
from tests.support.waiting import eventually

pytestmark = [pytest.mark.node, pytest.mark.postgres, pytest.mark.mysql]

SCRIPT = "pusher_driver.mjs"
LIVE_S = 2.0  # the contract: a change reaches every node within this many seconds
OUTCOME_S = 30.0  # make test waits this long for the outcome (make reliability: LIVE_S)

Drive = Callable[..., Awaitable[NodeDriver]]


Deployment = Callable[[], Awaitable[tuple[list[int], dict[str, str]]]]


@pytest.fixture(params=["postgres-two-nodes", "mysql-two-nodes", "sqlite-one-node"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    """Starts the nodes; returns their ports and the environment the CLI needs to
    reach their database."""
    if request.param.endswith("-two-nodes"):
        kind = request.param.removesuffix("-two-nodes")
        env = {"TIDINGS_DATABASE_URL": request.getfixturevalue(f"{kind}_url")}
        cluster: Cluster = request.getfixturevalue("cluster")

        async def two_nodes() -> tuple[list[int], dict[str, str]]:
            return [await cluster(**env), await cluster(**env)], env

        return two_nodes
    env = {"TIDINGS_DATABASE_URL": f"sqlite:///{tmp_path}/tidings.sqlite3"}
    serve: ServeProcesses = request.getfixturevalue("serve_process")

    async def one_node() -> tuple[list[int], dict[str, str]]:
        return [await serve(TIDINGS_BROKER_URL="memory://", **env)], env

    return one_node


@pytest.fixture
def drive(launch: Launch) -> Drive:
    """Start a pusher-js driver for (port, key, secret); stopped after the test."""

    async def start(port: int, key: str, secret: str) -> NodeDriver:
        return await launch(SCRIPT, port, f"{SCRIPT}@{port}", key=key, secret=secret)

    return start


async def trigger(client: Any, channel: str = "private-room", data: Any = None) -> str:
    """``ok``, or the SDK error's class name (PusherBadAuth, PusherBadStatus, ...)."""
    try:
        await asyncio.to_thread(client.trigger, channel, "news", data or {"n": 1})
    except pusher.errors.PusherError as exc:
        return type(exc).__name__
    return "ok"


async def first_error(port: int, key: str) -> int:
    """The code of the ``pusher:error`` a raw WebSocket to ``/app/KEY`` gets first."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/app/{key}?protocol=7") as ws:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["event"] == "pusher:error", message
    code: int = message["data"]["code"]
    return code


@pytest.mark.timing
async def test_an_app_created_rotated_disabled_and_deleted_at_run_time(
    deployment: Deployment, drive: Drive
) -> None:
    """The whole life of a CLI-made app, observed on every node by real clients."""
    ports, env = await deployment()
    app = await tidings_apps(env, "create", "--name", "live")

    async def usable_everywhere() -> bool:
        results = [await trigger(sdk(port, app)) for port in ports]
        return all(result == "ok" for result in results)

    took = await eventually(usable_everywhere, OUTCOME_S, "the new app works on every node")
    bound("a created app usable on every node", took, LIVE_S)

    # pusher-js on every node, signing with the app's secret, gets events sent through
    # the PyPI SDK on the first node.
    drivers = []
    for index, port in enumerate(ports):
        driver = await drive(port, app["key"], app["secret"])
        await driver.send("connect", f"c{index}")
        await driver.expect("connected", f"c{index}")
        await driver.send("subscribe", f"c{index}", channel="private-room")
        await driver.expect("subscribed", f"c{index}", channel="private-room")
        drivers.append(driver)
    assert await trigger(sdk(ports[0], app), data={"hello": "all"}) == "ok"
    for index, driver in enumerate(drivers):
        got = await driver.expect("event", f"c{index}", channel="private-room", event="news")
        assert got["data"] == {"hello": "all"}

    # Rotation without grace: the old secret stops at once on every node.
    rotated = await tidings_apps(env, "rotate-secret", app["id"])
    assert rotated["secret"] != app["secret"]

    async def old_secret_refused() -> bool:
        results = [await trigger(sdk(port, app)) for port in ports]
        return all(result == "PusherBadAuth" for result in results)

    took = await eventually(old_secret_refused, OUTCOME_S, "the old secret refused everywhere")
    bound("a rotated secret refused on every node", took, LIVE_S)
    for port in ports:
        assert await trigger(sdk(port, app, secret=rotated["secret"])) == "ok"
    # Connections opened before the rotation: channel auth signed with the old secret
    # is refused, with the new one accepted.
    for index, driver in enumerate(drivers):
        await driver.send("subscribe", f"c{index}", channel="private-after")
        await driver.expect("subscription_error", f"c{index}", channel="private-after")
    fresh = await drive(ports[-1], app["key"], rotated["secret"])
    await fresh.send("connect", "fresh")
    await fresh.expect("connected", "fresh")
    await fresh.send("subscribe", "fresh", channel="private-after")
    await fresh.expect("subscribed", "fresh", channel="private-after")

    # Disable: every open connection gets pusher:error 4003; new ones are refused.
    await tidings_apps(env, "disable", app["id"])
    committed = time.monotonic()  # the CLI has exited: the change is in the database
    for index, driver in enumerate(drivers):
        error = await driver.expect("message", f"c{index}", event="pusher:error", timeout=OUTCOME_S)
        assert error["data"]["code"] == 4003
    bound("a disabled app's clients told on every node", time.monotonic() - committed, LIVE_S)
    refused = await drive(ports[0], app["key"], rotated["secret"])
    await refused.send("connect", "late")
    await refused.expect("state", "late", current="disconnected")  # refused: no retry
    assert not refused.observed("connected", "late")
    assert await first_error(ports[0], app["key"]) == 4003
    assert await trigger(sdk(ports[0], app, secret=rotated["secret"])) != "ok"

    # Delete: the key is unknown everywhere (4001).
    await tidings_apps(env, "delete", app["id"], "--yes")

    async def unknown_everywhere() -> bool:
        results = [await trigger(sdk(port, app, secret=rotated["secret"])) for port in ports]
        return all(result == "PusherBadStatus" for result in results)  # 404

    took = await eventually(unknown_everywhere, OUTCOME_S, "the deleted key unknown everywhere")
    bound("a deleted app unknown on every node", took, LIVE_S)
    for port in ports:
        assert await first_error(port, app["key"]) == 4001
