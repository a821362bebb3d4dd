"""Soak: many subscribers, many events, every delivery counted, memory watched.

Short: 300 subscribers x 60 events. ``make reliability``: 5 000 x 180 (the battery's
900 000 deliveries).
"""

from __future__ import annotations

import asyncio

import orjson
import psutil
import pytest
from websockets.asyncio.client import ClientConnection

from tests.reliability.conftest import LONG
from tests.reliability.test_process_faults import subscribed
from tests.support.node import publish_to
from tests.support.serve import StartServe
from tests.support.timing import bound

SUBSCRIBERS, EVENTS = (5000, 180) if LONG else (300, 60)


@pytest.mark.timeout(900 if LONG else 120)
@pytest.mark.timing
async def test_every_delivery_arrives_and_memory_stays_put(serve: StartServe) -> None:
    """Each subscriber gets every event once, in order; RSS after the events is within 10 %
    (plus 2 MB) of RSS before them (asserted by make reliability)."""
    process = await serve({"TIDINGS_LISTEN_BACKLOG": "4096"})
    try:
        clients = []
        for start in range(0, SUBSCRIBERS, 100):
            clients += await asyncio.gather(
                *(subscribed(process.ws_url, "soak") for _ in range(start, start + 100))
            )
        rss = psutil.Process(process.pid)
        before = rss.memory_info().rss

        async def read(ws: ClientConnection) -> list[str]:
            seen: list[str] = []
            while len(seen) < EVENTS:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if message["event"] == "tick":
                    seen.append(message["data"])
            return seen

        readers = [asyncio.create_task(read(ws)) for ws in clients]
        for i in range(EVENTS):
            await publish_to(process.http_url, ["soak"], "tick", str(i))
        results = await asyncio.gather(*readers)
        after = rss.memory_info().rss
        expected = [str(i) for i in range(EVENTS)]
        assert all(seen == expected for seen in results)
        limit = (before * 1.10 + 2 * 2**20) / 2**20
        bound(f"RSS after the events (before: {before / 2**20:.1f})", after / 2**20, limit, "MiB")
        for ws in clients:
            await ws.close()
    finally:
        await process.stop()
