"""Connection churn: closed connections are freed at once, so memory stays flat.

The collector policy (``tidings.server.collector``) freezes whatever survives a
full collection, so a reference cycle among a closed connection's objects would
never be freed: these tests prove there is none (plain TCP and TLS), and that a
real ``tidings serve`` keeps a flat RSS while thousands of connections come and go.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
from collections import Counter
from pathlib import Path

import psutil
import pytest
from websockets.sync.client import connect as sync_connect

from tests.fixtures.tls import self_signed
from tests.integration.conftest import KEY, ServerFactory, eventually
from tests.reliability.conftest import LONG
from tests.reliability.processes import ServeProcess

# Objects of a server-side connection; none may be left for the cyclic collector.
SERVER_TYPES = {
    "ClientConnection",
    "Outbox",
    "FrontDoor",
    "RequestReader",
    "HttpRequestParser",
    "WebSocketProtocol",
    "FrameReader",
    "RequestHandler",
    "Request",
    "_SelectorSocketTransport",
    "_SSLProtocolTransport",
    "SSLProtocol",
}


def one_connection(url: str, context: ssl.SSLContext | None) -> None:
    """Connect, subscribe, leave (a blocking client: no asyncio objects of its own)."""
    with sync_connect(url, ssl=context) as ws:
        ws.recv(timeout=5)
        ws.send('{"event":"pusher:subscribe","data":{"channel":"churn"}}')
        ws.recv(timeout=5)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_closed_connections_leave_no_reference_cycles(
    server_factory: ServerFactory, tmp_path: Path, tls: bool
) -> None:
    """After 20 connections came and went, the collector finds none of their objects."""
    overrides: dict[str, object] = {}
    context = None
    if tls:
        cert, key = self_signed(tmp_path)
        overrides = {"tls_cert": cert, "tls_key": key}
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
    running = await server_factory(**overrides)
    url = f"{running.ws_url}/app/{KEY}?protocol=7"
    await asyncio.to_thread(one_connection, url, context)  # warm up: first-use caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(20):
            await asyncio.to_thread(one_connection, url, context)

        async def all_gone() -> bool:
            return not running.state.connections

        await eventually(all_gone)
        # Let connection_lost callbacks scheduled by TLS run: the SSL shutdown takes
        # several loop iterations, more on a loaded machine (one sleep(0) failed there
        # 2 runs in 5). A real cycle is still caught: it survives any wait.
        for _ in range(20):
            await asyncio.sleep(0.01)
        gc.collect()
        left = Counter(type(o).__name__ for o in gc.garbage if type(o).__name__ in SERVER_TYPES)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == Counter(), f"closed connections left reference cycles: {dict(left)}"


def one_refused_connection(url: str) -> None:
    """Connect with an unknown key: the server refuses it (4001) and closes."""
    with sync_connect(url) as ws:
        ws.recv(timeout=5)  # pusher:error 4001
        try:
            ws.recv(timeout=5)
        except Exception:  # the close that follows ends the iteration
            pass


async def test_refused_connections_leave_no_reference_cycles(
    server_factory: ServerFactory,
) -> None:
    """A connection refused at admission (unknown key) is freed like any other."""
    running = await server_factory()
    url = f"{running.ws_url}/app/no-such-key?protocol=7"
    await asyncio.to_thread(one_refused_connection, url)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(10):
            await asyncio.to_thread(one_refused_connection, url)
        for _ in range(20):
            await asyncio.sleep(0.01)
        gc.collect()
        left = Counter(
            type(o).__name__
            for o in gc.garbage
            if type(o).__name__ in SERVER_TYPES
            and type(o).__module__.startswith(("tidings.", "asyncio.", "aiohttp.", "httptools."))
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == Counter(), f"refused connections left reference cycles: {dict(left)}"


async def test_rss_stays_flat_under_churn() -> None:
    """Rounds of connections opened and closed against `tidings serve`: RSS levels off.

    Short: 6 rounds of 300. ``make reliability``: 20 rounds of 1 000 (the battery's run).
    """
    rounds, per_round = (20, 1000) if LONG else (6, 300)
    process = await ServeProcess().start()
    try:
        url = f"{process.ws_url}/app/{KEY}?protocol=7"
        rss = psutil.Process(process.pid)
        curve = []
        for _ in range(rounds):
            for _ in range(per_round // 50):
                await asyncio.gather(
                    *(asyncio.to_thread(one_connection, url, None) for _ in range(50))
                )
            curve.append(rss.memory_info().rss)
        # The first round warms caches and pools; after it, growth must stay under
        # 1 KiB per closed connection (it was 6.6 KiB before the cycles were broken).
        growth = curve[-1] - curve[0]
        closed_after_first = (rounds - 1) * per_round
        assert growth < closed_after_first * 1024, [round(r / 2**20, 1) for r in curve]
    finally:
        await process.stop()
