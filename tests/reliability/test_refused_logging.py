"""Refused connections are for anyone to cause: they cost at most one log line a second."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import websockets

from tests.support.serve import ServeProcess

_ATTEMPTS = 30


@pytest.fixture
async def serve() -> AsyncIterator[ServeProcess]:
    process = await ServeProcess().start()
    yield process
    await process.stop()


async def test_a_storm_of_refused_connections_is_a_few_info_lines(serve: ServeProcess) -> None:
    for attempt in range(_ATTEMPTS):
        wire = (
            f"/v3/orders?api_key=wrong-{attempt}"
            if attempt % 2
            else f"/app/wrong-{attempt}?protocol=7"
        )
        async with websockets.connect(f"{serve.ws_url}{wire}") as ws:
            await ws.wait_closed()
            assert ws.close_code == 4001
    await serve.wait_for_line(b"connection refused")
    refused = [r for r in serve.records() if r.get("event") == "connection refused"]
    assert 1 <= len(refused) < _ATTEMPTS // 3, refused
    assert refused[0]["level"] == "info" and refused[0]["code"] == 4001
