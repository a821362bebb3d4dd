"""Refused connections are for anyone to cause: they cost at most one log line a second."""

from __future__ import annotations

import pytest
import websockets

from tests.support.serve import ServeProcess, StartServe

_ATTEMPTS = 30


@pytest.fixture
async def server_process(serve: StartServe) -> ServeProcess:
    """`tidings serve` for this module's tests (stopped, output shown on failure, by ``serve``)."""
    return await serve()


async def test_a_storm_of_refused_connections_is_a_few_info_lines(
    server_process: ServeProcess,
) -> None:
    for attempt in range(_ATTEMPTS):
        wire = (
            f"/v3/orders?api_key=wrong-{attempt}"
            if attempt % 2
            else f"/app/wrong-{attempt}?protocol=7"
        )
        async with websockets.connect(f"{server_process.ws_url}{wire}") as ws:
            await ws.wait_closed()
            assert ws.close_code == 4001
    await server_process.wait_for_line(b"connection refused")
    refused = [r for r in server_process.records() if r.get("event") == "connection refused"]
    assert 1 <= len(refused) < _ATTEMPTS // 3, refused
    assert refused[0]["level"] == "info" and refused[0]["code"] == 4001
