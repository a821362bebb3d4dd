"""Run real Node.js clients (pusher-js, Laravel Echo) against a tidings server on port 0.

A *driver* (``tests/conformance/node/*_driver.mjs``) is a small command interpreter around
the real client library: the test writes one JSON command per line on its stdin and reads one
JSON observation per line from its stdout (the protocol is documented at the top of each
driver). :class:`NodeDriver` is the Python end: ``send`` a command, ``expect`` an observation
with a timeout. Drivers exit by themselves (on ``exit``, when stdin closes, or at a deadline),
and the fixture kills any that did not by their PID.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pusher
import pytest

# Re-exported: the tests import the default app's credentials from here.
from tests.fixtures.api import APP_ID as APP_ID
from tests.fixtures.api import KEY as KEY
from tests.fixtures.api import SECRET as SECRET
from tests.fixtures.api import signed_url as signed_url
from tests.support.node import NODE_DIR as NODE_DIR
from tests.support.node import TIMEOUT as TIMEOUT
from tests.support.node import NodeDriver as NodeDriver
from tests.support.node import Observation as Observation
from tests.support.node import kept_events as kept_events
from tests.support.node import launch_driver as launch_driver
from tests.support.node import node_binary as node_binary
from tests.support.node import publish_to as publish_to
from tests.support.pusher import OpenClient as OpenClient
from tests.support.pusher import ServerFactory as ServerFactory
from tests.support.pusher import open_client as open_client
from tests.support.pusher import server_factory as server_factory
from tests.support.redis import delete_redis_keys
from tests.support.serve import ServeProcess
from tidings.config import Settings
from tidings.server.runner import RunningServer, start_server

StartDriver = Callable[[str], Awaitable[NodeDriver]]
#: :func:`launch_driver` without its first argument (``node``).
Launch = Callable[..., Awaitable[NodeDriver]]


#: Parametrise a test (or a module, in ``pytestmark``) over channel history off and on:
#: with history on, the default app keeps every channel's events, so every event frame
#: carries ``serial`` and ``stream_id`` (docs/history.md).
HISTORY_OFF_ON = pytest.mark.parametrize(
    "history", [False, True], ids=["history-off", "history-on"]
)


@pytest.fixture
def history() -> bool:
    """Whether ``server`` keeps history of every channel; off unless parametrised
    (:data:`HISTORY_OFF_ON`)."""
    return False


def history_settings(history: bool) -> dict[str, Any]:
    """The settings that turn history on for every channel of the default app (or nothing)."""
    return {"default_app_history_channels": ["*"]} if history else {}


@pytest.fixture
async def server(request: pytest.FixtureRequest, history: bool) -> AsyncIterator[RunningServer]:
    """A tidings server on a free port: default settings (history of every channel with
    ``history``), plus overrides given with
    ``@pytest.mark.parametrize("server", [{"setting": value}], indirect=True)``.
    """
    overrides: dict[str, Any] = {"http_port": 0, "shutdown_grace_period": 1.0}
    overrides.update(history_settings(history))
    overrides.update(getattr(request, "param", {}))
    running = await start_server(Settings.load(**overrides))
    try:
        yield running
    finally:
        if not running.state.draining:
            await running.shutdown()


@pytest.fixture
async def launch() -> AsyncIterator[Launch]:
    """Start drivers as :func:`launch_driver` does (script, port, name, key, secret), on
    any server; every one is stopped after the test."""
    node = node_binary()
    drivers: list[NodeDriver] = []

    async def start(script: str, port: int, *args: Any, **kwargs: Any) -> NodeDriver:
        driver = await launch_driver(node, script, port, *args, **kwargs)
        drivers.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in drivers:
            await driver.close()


@pytest.fixture
def start_driver(server: RunningServer, launch: Launch) -> StartDriver:
    """Start ``node tests/conformance/node/<script>`` against ``server``; stopped after the test."""

    async def start(script: str) -> NodeDriver:
        return await launch(script, server.port)

    return start


Cluster = Callable[..., Awaitable[int]]


class ServeProcesses:
    """`tidings serve` processes of one test: call to start one, ``stop`` ends them all."""

    def __init__(self) -> None:
        self.procs: list[ServeProcess] = []
        # By port, so a test can kill one (by its PID) to play a node dying.
        self.by_port: dict[int, ServeProcess] = {}

    async def __call__(self, **extra_env: str) -> int:
        """Start one with extra environment variables; its port once it serves and
        answers ``/ready`` (broker connected)."""
        env = {"TIDINGS_SHUTDOWN_GRACE_PERIOD": "1", **extra_env}
        process = ServeProcess(env)
        self.procs.append(process)
        await process.start()
        await process.until_ready()
        self.by_port[process.port] = process
        return process.port

    async def stop(self) -> None:
        """SIGTERM each (by PID), then SIGKILL those still running after a bound."""
        await asyncio.gather(*(process.close() for process in self.procs))


@pytest.fixture
async def serve_process() -> AsyncIterator[ServeProcesses]:
    """Start `tidings serve` processes (keyword arguments: environment variables such as
    ``TIDINGS_DATABASE_URL``); stopped after the test."""
    processes = ServeProcesses()
    try:
        yield processes
    finally:
        await processes.stop()
        for process in processes.procs:  # shown by pytest when the test failed
            print(f"--- tidings serve on {process.port} (exit {process.returncode}) ---")
            print(process.output()[-20000:])


@pytest.fixture
async def cluster(redis_url: str, serve_process: ServeProcesses) -> AsyncIterator[Cluster]:
    """Like ``serve_process``, for nodes that share ``redis_url`` under a prefix of this
    test only (its keys are deleted afterwards)."""
    async for start in _nodes_over(redis_url, serve_process, clean=True):
        yield start


@pytest.fixture(params=["redis", "redis-sharded", "redis-cluster"])
async def any_cluster(
    request: pytest.FixtureRequest, serve_process: ServeProcesses
) -> AsyncIterator[Cluster]:
    """``cluster`` over each engine in turn: one Redis, three shards (this session's
    redis-servers) and a Redis Cluster of three masters."""
    fixture = {"redis": "redis_url", "redis-sharded": "redis_shards_url"}.get(
        request.param, "redis_cluster_url"
    )
    url: str = request.getfixturevalue(fixture)
    async for start in _nodes_over(url, serve_process, clean=request.param == "redis"):
        yield start


async def _nodes_over(
    redis_url: str, serve_process: ServeProcesses, *, clean: bool
) -> AsyncIterator[Cluster]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    started = 0

    async def start(**extra_env: str) -> int:
        nonlocal started
        env = {
            "TIDINGS_BROKER_URL": redis_url,
            "TIDINGS_REDIS_PREFIX": prefix,
            "TIDINGS_NODE_ID": f"node-{started}",
            **extra_env,
        }
        started += 1
        return await serve_process(**env)

    try:
        yield start
    finally:
        await serve_process.stop()  # before the keys go: nodes write until they stop
        if clean:  # the other engines are this session's own servers
            delete_redis_keys(redis_url, prefix)


async def publish(
    server: RunningServer, channels: list[str], event: str, data: Any, **fields: Any
) -> Any:
    """Trigger an event through the signed HTTP API of ``server``; see :func:`publish_to`."""
    return await publish_to(server.http_url, channels, event, data, **fields)


async def tidings_apps(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run `tidings apps ARGS --json` as a user would (a process of its own, next to any
    running node) and return its JSON."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "apps", *args, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **env},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"tidings apps {args} failed: {err.decode()}"
    result: dict[str, Any] = orjson.loads(out)
    return result


def sdk(port: int, app: dict[str, Any], secret: str | None = None) -> Any:
    """The PyPI ``pusher`` client for ``app`` on the node at ``port``."""
    return pusher.Pusher(
        app_id=app["id"],
        key=app["key"],
        secret=secret or app["secret"],
        host="127.0.0.1",
        port=port,
        ssl=False,
    )
