"""RFC 6455 framing violations: the server fails the connection with 1002 (raw frames)."""

from __future__ import annotations

import struct

import orjson
import pytest

from tests.support.pusher import KEY
from tests.support.rawws import RawWebSocket, close_body, frame
from tidings.protocol.rfc6455 import MAX_FRAGMENTS
from tidings.server.runner import RunningServer

PUSHER = f"/app/{KEY}?protocol=7"
PING = orjson.dumps({"event": "pusher:ping", "data": {}})


async def established(server: RunningServer, path: str = PUSHER) -> RawWebSocket:
    ws = await RawWebSocket.open(server.port, path)
    assert b"pusher:connection_established" in await ws.text()
    return ws


async def test_unmasked_frame_is_closed_1002(server: RunningServer) -> None:
    """An unmasked client text frame gets close 1002, then the TCP connection ends."""
    ws = await established(server)
    ws.send(frame(0x1, PING, masked=False))
    assert await ws.close_code() == 1002
    await ws.aclose()


async def test_unmasked_frame_right_behind_the_upgrade_is_closed_1002(
    server: RunningServer,
) -> None:
    """Bytes sent in the same segment as the upgrade request are checked too."""
    ws = await RawWebSocket.open(server.port, PUSHER, extra=frame(0x1, PING, masked=False))
    assert await ws.close_code() == 1002
    await ws.aclose()


@pytest.mark.parametrize("code", [1005, 1006, 1015, 1004, 2999, 5000, 65535])
async def test_close_code_a_client_may_not_send_is_answered_1002(
    server: RunningServer, code: int
) -> None:
    """Reserved (1005, 1006, 1015) and undefined close codes are protocol errors."""
    ws = await established(server)
    ws.send(frame(0x8, close_body(code)))
    assert await ws.close_code() == 1002
    await ws.aclose()


@pytest.mark.parametrize("code", [1000, 1001, 4000])
async def test_valid_close_code_is_answered_normally(server: RunningServer, code: int) -> None:
    """A valid client close is still answered with a normal close (not 1002)."""
    ws = await established(server)
    ws.send(frame(0x8, close_body(code)))
    assert await ws.close_code() != 1002
    await ws.aclose()


async def test_masked_frames_split_byte_by_byte_still_work(server: RunningServer) -> None:
    """The guard follows headers across reads: a frame fed one byte at a time is served."""
    ws = await established(server)
    data = frame(0x1, b"x" * 300) + frame(0x1, PING)  # 16-bit length, then a ping
    for i in range(len(data)):
        ws.send(data[i : i + 1])
        await ws.writer.drain()
    replies = [orjson.loads(await ws.text()) for _ in range(2)]
    assert [r["event"] for r in replies] == ["pusher:error", "pusher:pong"]
    # The connection is still open and still checked: an unmasked frame now fails it.
    ws.send(frame(0x1, PING, masked=False))
    assert await ws.close_code() == 1002
    await ws.aclose()


async def test_piesocket_unmasked_frame_is_closed_1002(server: RunningServer) -> None:
    """The PieSocket endpoint fails unmasked frames the same way."""
    ws = await RawWebSocket.open(server.port, f"/v3/room?api_key={KEY}")
    ws.send(frame(0x1, b'{"event":"x"}', masked=False))
    assert await ws.close_code() == 1002
    await ws.aclose()


async def test_server_serves_others_after_violations(server: RunningServer) -> None:
    """Twenty violators in a row leave the server answering a well-behaved client."""
    for _ in range(20):
        ws = await established(server)
        ws.send(frame(0x1, PING, masked=False))
        assert await ws.close_code() == 1002
        await ws.aclose()
    ws = await established(server)
    ws.send(frame(0x1, PING))
    assert orjson.loads(await ws.text())["event"] == "pusher:pong"
    await ws.aclose()


async def test_a_flood_of_empty_fragments_is_closed_1009_naming_the_limit(
    server: RunningServer,
) -> None:
    """Empty continuation frames (no bytes toward the size limit) end with 1009, not memory.

    Issue 25, defect 2: each one used to be kept in a list until the connection closed.
    """
    ws = await established(server)
    ws.send(frame(0x1, b"", fin=False) + frame(0x0, b"", fin=False) * 2000)
    while True:
        opcode, body = await ws.read_frame()
        if opcode == 0x8:
            break
    assert struct.unpack("!H", body[:2]) == (1009,)
    assert f"more than {MAX_FRAGMENTS} fragments" in body[2:].decode()
    await ws.aclose()
    ws = await established(server)  # the server goes on serving others
    ws.send(frame(0x1, PING))
    assert orjson.loads(await ws.text())["event"] == "pusher:pong"
    await ws.aclose()
