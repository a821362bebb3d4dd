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
from tests.reliability.conftest import LONG
from tests.support.pusher import KEY, ServerFactory
from tests.support.serve import StartServe
from tests.support.timing import bound
from tests.support.waiting import eventually

# Objects of a server-side connection; none may be left for the cyclic collector. Only
# the server's modules count: the blocking websockets client of these tests has classes
# of the same names (ClientConnection, Request) whose cycles are not the server's.
SERVER_MODULES = ("tidings.", "asyncio.", "aiohttp.", "httptools.")
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


def _is_server_object(o: object) -> bool:
    kind = type(o)
    return kind.__name__ in SERVER_TYPES and kind.__module__.startswith(SERVER_MODULES)


def _server_garbage() -> Counter[str]:
    """Server objects the cyclic collector found unreachable (kept by DEBUG_SAVEALL)."""
    return Counter(type(o).__name__ for o in gc.garbage if _is_server_object(o))


def _server_objects() -> Counter[str]:
    return Counter(type(o).__name__ for o in gc.get_objects() if _is_server_object(o))


async def _until_freed(baseline: Counter[str]) -> Counter[str]:
    """Wait (bounded) until the closed connections' server objects are gone, freed by
    reference counting once their last callbacks ran (TLS takes several loop iterations,
    more on a busy machine); then the server objects the collector found in cycles.

    No fixed wait: a real cycle shows up in ``gc.garbage`` as soon as its objects are
    unreachable (the wait ends at once), and objects still alive keep it waiting.
    """

    def settled() -> bool:
        gc.collect()
        return bool(_server_garbage()) or not (_server_objects() - baseline)

    await eventually(settled, 30, "the closed connections' server objects are freed")
    return _server_garbage()


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
    await eventually(lambda: not running.state.connections)
    gc.collect()
    baseline = _server_objects()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(20):
            await asyncio.to_thread(one_connection, url, context)

        async def all_gone() -> bool:
            return not running.state.connections

        await eventually(all_gone)
        left = await _until_freed(baseline)
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
    await eventually(lambda: not running.state.connections)
    gc.collect()
    baseline = _server_objects()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(10):
            await asyncio.to_thread(one_refused_connection, url)
        left = await _until_freed(baseline)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == Counter(), f"refused connections left reference cycles: {dict(left)}"


@pytest.mark.timing
async def test_rss_stays_flat_under_churn(serve: StartServe) -> None:
    """Rounds of connections opened and closed against `tidings serve`: RSS levels off
    (the bound is asserted by make reliability; make test prints the figure).

    Short: 6 rounds of 300. ``make reliability``: 20 rounds of 1 000 (the battery's run).
    """
    rounds, per_round = (20, 1000) if LONG else (6, 300)
    process = await serve()
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
        print("RSS MiB per round:", [round(r / 2**20, 1) for r in curve])
        bound("RSS growth per closed connection", growth / closed_after_first, 1024, "B")
    finally:
        await process.stop()
