"""``/tidings/recovery.js`` with stock pusher-js 8.6.0 in Node, through a TCP proxy we cut.

The connection is cut for a while (the proxy drops it and refuses new ones) while
events are published; once pusher-js reconnected, its handlers have received
every event exactly once, in order: the helper added the last position to the
re-subscribe and the server replayed what was missed (DESIGN.md 8.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conformance.conftest import (
    Cluster,
    NodeDriver,
    launch_driver,
    node_binary,
    publish_to,
)
from tests.conformance.conftest import server as server  # noqa: F401  (fixture)

pytestmark = pytest.mark.node

HISTORY_ENV = {
    "TIDINGS_DEFAULT_APP_HISTORY_CHANNELS": '["feed-"]',
    "TIDINGS_DEFAULT_APP_HISTORY_SIZE": "150",
}


class CuttableProxy:
    """A TCP proxy to a target port whose link can be cut: open connections drop, and new
    ones hang (a network black hole) until the link is back, then reach the target."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._up = asyncio.Event()
        self._up.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Drop every open connection; new ones wait for ``resume``."""
        self._up.clear()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def resume(self, target: int | None = None) -> None:
        """The link is back (to ``target`` now, when given)."""
        self.target = target or self.target
        self._up.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self.cut()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._up.wait()
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            for w in (writer, up_writer):
                w.transport.abort()  # a cut, not a clean close: no FIN handshake
            self._pipes.discard(task)


@pytest.fixture
async def proxy() -> AsyncIterator[list[CuttableProxy]]:
    made: list[CuttableProxy] = []
    yield made
    for p in made:
        await p.close()


async def recovery_module(base: str, tmp_path: Path) -> Path:
    """GET /tidings/recovery.js from the server, saved where Node can import it."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/tidings/recovery.js") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/javascript")
        path = tmp_path / "recovery.mjs"
        path.write_bytes(await r.read())
    return path


async def start(proxy_port: int, module: Path, env: pytest.MonkeyPatch) -> NodeDriver:
    env.setenv("RECOVERY_MODULE", str(module))  # launch_driver passes the environment on
    return await launch_driver(node_binary(), "recovery_driver.mjs", proxy_port)


async def events(driver: NodeDriver, client: str, count: int) -> list[Any]:
    return [
        (await driver.expect("event", client, timeout=20, event="tick"))["data"]["n"]
        for _ in range(count)
    ]


async def cut_and_publish(
    cut: CuttableProxy,
    base: str,
    channel: str,
    first: int,
    count: int,
    resume_to: int | None,
    seconds: float,
) -> None:
    await cut.cut()
    for n in range(first, first + count):
        await publish_to(base, [channel], "tick", {"n": n})
    await asyncio.sleep(seconds)  # the outage itself: what the test is about
    await cut.resume(resume_to)


async def run_cut(
    cluster_ports: tuple[int, int],
    tmp_path: Path,
    proxies: list[CuttableProxy],
    env: pytest.MonkeyPatch,
    *,
    recovery: bool,
    channel: str,
    published: int,
    seconds: float = 1.0,
) -> tuple[NodeDriver, list[Any], Any]:
    port_a, port_b = cluster_ports
    base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    cut = CuttableProxy(port_a)
    await cut.start()
    proxies.append(cut)
    driver = await start(cut.port, await recovery_module(base_a, tmp_path), env)
    await driver.send("connect", "c", recovery=recovery)
    await driver.expect("state", "c", current="connected")
    await driver.send("subscribe", "c", channel=channel)
    await driver.expect("subscribed", "c", channel=channel)
    for n in range(3):
        await publish_to(base_a, [channel], "tick", {"n": n})
    assert await events(driver, "c", 3) == [0, 1, 2]
    await cut_and_publish(cut, base_b, channel, 3, published, port_b, seconds)
    await driver.expect("state", "c", timeout=30, current="connected")
    confirmation = await driver.expect("subscribed", "c", timeout=20, channel=channel)
    await publish_to(base_b, [channel], "tick", {"n": -1})  # a barrier after the reconnect
    got: list[Any] = []
    while not got or got[-1] != -1:
        got.append((await driver.expect("event", "c", timeout=20, event="tick"))["data"]["n"])
    return driver, got, confirmation["data"]


async def test_pusher_js_with_the_helper_gets_every_event_once_across_a_cut(
    cluster: Cluster, proxy: list[CuttableProxy], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 events during a 5 s cut, reconnecting to the OTHER node: all once, in order."""
    ports = (await cluster(**HISTORY_ENV), await cluster(**HISTORY_ENV))
    driver, got, confirmation = await run_cut(
        ports,
        tmp_path,
        proxy,
        monkeypatch,
        recovery=True,
        channel="feed-1",
        published=100,
        seconds=5.0,
    )
    try:
        assert got == [*range(3, 103), -1]
        assert confirmation["recovered"] is True
        assert (await driver.expect("recovery", "c", channel="feed-1"))["recovered"] is True
    finally:
        await driver.close()


async def test_a_gap_longer_than_history_is_not_recovered(
    cluster: Cluster, proxy: list[CuttableProxy], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More missed than history_size keeps: recovered false, and nothing replayed."""
    ports = (await cluster(**HISTORY_ENV), await cluster(**HISTORY_ENV))
    driver, got, confirmation = await run_cut(
        ports, tmp_path, proxy, monkeypatch, recovery=True, channel="feed-2", published=160
    )
    try:
        assert got == [-1]
        assert confirmation["recovered"] is False
    finally:
        await driver.close()


async def test_stock_pusher_js_without_the_helper_behaves_as_before(
    cluster: Cluster, proxy: list[CuttableProxy], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No helper, no position: what was published during the cut is simply missed."""
    ports = (await cluster(**HISTORY_ENV), await cluster(**HISTORY_ENV))
    driver, got, confirmation = await run_cut(
        ports, tmp_path, proxy, monkeypatch, recovery=False, channel="feed-3", published=10
    )
    try:
        assert got == [-1]
        assert "recovered" not in confirmation and confirmation["serial"] == 13
        assert not driver.observed("recovery")
    finally:
        await driver.close()
