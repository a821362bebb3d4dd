"""A subscriber that stops reading: told 4100 with a close frame, its backlog dropped."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, cast

import orjson
import pytest

from tests.support.pusher import KEY, TIMEOUT, ServerFactory, publish
from tests.support.rawws import RawWebSocket, frame
from tests.support.timing import bound
from tests.support.waiting import eventually
from tidings.server.runner import RunningServer
from tidings.web.connection import KERNEL_UNSENT_BYTES, ClientConnection

FLOOD_BYTES = 20_000  # the payload of each event that floods a stalled subscriber


async def stalled_subscriber(running: RunningServer, channel: str) -> RawWebSocket:
    """A subscriber of ``channel`` with a 4 KiB receive buffer that has stopped reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
    ws = await RawWebSocket.wrap(reader, writer, running.port, f"/app/{KEY}?protocol=7")
    await ws.text()  # connection_established
    subscribe = {"event": "pusher:subscribe", "data": {"channel": channel}}
    ws.send(frame(0x1, orjson.dumps(subscribe)))
    await ws.text()  # subscription_succeeded
    cast(asyncio.Transport, writer.transport).pause_reading()
    return ws


def read_again(ws: RawWebSocket) -> None:
    """The stalled subscriber reads again."""
    cast(asyncio.Transport, ws.writer.transport).resume_reading()


async def flood_until_cut(running: RunningServer, slow: ClientConnection) -> int:
    """Publish big events on "flood" until the server closes ``slow``; how many it took."""
    published = 0
    while slow.close_code is None:  # each publish is the barrier for the next check
        await publish(running, ["flood"], "big", f"{published}:{'x' * FLOOD_BYTES}")
        published += 1
        assert published < 2000, "never marked slow"
    return published


async def test_stalled_subscriber_gets_4100_and_a_close_frame(
    server_factory: ServerFactory,
) -> None:
    """Stalled past the mark, then reading again: a bounded tail of stale events, then
    ``pusher:error`` 4100 and close 4100 (not megabytes of backlog and an EOF)."""
    running = await server_factory(max_write_buffer_bytes=256 * 1024)
    slow = await stalled_subscriber(running, "flood")  # the server's unsent bytes for it grow
    (slow_conn,) = running.state.connections
    await flood_until_cut(running, slow_conn)
    assert slow_conn.close_code == 4100
    read_again(slow)
    stale_bytes, events = 0, []
    while True:
        opcode, body = await slow.read_frame()
        if opcode == 0x8:
            (code,) = struct.unpack("!H", body[:2])
            break
        message = orjson.loads(body)
        events.append(message["event"])
        if message["event"] == "big":
            stale_bytes += len(body)
    assert code == 4100
    assert events[-1] == "pusher:error" and events.count("pusher:error") == 1
    # The held backlog was dropped: the client read at most the transport's 64 KiB,
    # the kernel's unsent bytes and what its own buffers held (64 KiB here), plus a frame
    # or two, not the megabytes an autotuned send buffer would hold.
    bound = 64 * 1024 + KERNEL_UNSENT_BYTES + 64 * 1024 + 2 * (FLOOD_BYTES + 100)
    assert stale_bytes <= bound, (stale_bytes, bound)
    assert await asyncio.wait_for(slow.reader.read(), TIMEOUT) == b""
    await slow.aclose()


async def test_a_briefly_slow_reader_gets_everything(server_factory: ServerFactory) -> None:
    """Frames held while the socket is behind are all sent, in order, once it reads again."""
    running = await server_factory(max_write_buffer_bytes=4 * 1024 * 1024)
    ws = await stalled_subscriber(running, "burst")
    count = 60
    for i in range(count):  # 1.2 MB while it is not reading: most of it is held
        await publish(running, ["burst"], "big", f"{i}:{'y' * 20_000}")
    read_again(ws)
    seen: list[int] = []
    while len(seen) < count:
        message = orjson.loads(await ws.text())
        if message["event"] == "big":
            seen.append(int(message["data"].split(":")[0]))
    assert seen == list(range(count))
    (conn,) = running.state.connections
    assert conn.close_code is None
    await ws.aclose()


async def test_a_slow_consumer_reading_again_within_the_activity_timeout_learns_why(
    server_factory: ServerFactory,
) -> None:
    """Issue 25, defect 5: cut as a slow consumer, stalled 5.5 s more, then reading again:
    the stale tail, ``pusher:error`` 4100 and close 4100, then EOF (it was cut after
    5 s, so it read stale events and an EOF); a subscriber that reads loses nothing."""
    running = await server_factory(max_write_buffer_bytes=256 * 1024, activity_timeout=10)
    steady = await RawWebSocket.open(running.port, f"/app/{KEY}?protocol=7")
    await steady.text()
    steady.send(frame(0x1, b'{"event":"pusher:subscribe","data":{"channel":"flood"}}'))
    await steady.text()
    received: list[str] = []

    async def read_steadily() -> None:
        while True:
            message = orjson.loads(await steady.text())
            received.append(message["data"].split(":")[0])
            if message["event"] == "barrier":
                return

    reading = asyncio.create_task(read_steadily())
    (steady_conn,) = running.state.connections
    slow = await stalled_subscriber(running, "flood")
    (slow_conn,) = running.state.connections - {steady_conn}
    published = await flood_until_cut(running, slow_conn)
    assert slow_conn.close_code == 4100
    await publish(running, ["flood"], "barrier", "end:")
    await asyncio.wait_for(reading, TIMEOUT)
    assert received == [str(i) for i in range(published)] + ["end"]
    # The scenario, not a wait for an outcome: the client keeps not reading for longer
    # than the 5 s after which it used to be cut, within the activity timeout.
    await asyncio.sleep(5.5)
    read_again(slow)
    texts: list[dict[str, Any]] = []
    while True:
        opcode, body = await slow.read_frame()
        if opcode == 0x8:
            break
        texts.append(orjson.loads(body))
    assert struct.unpack("!H", body[:2]) == (4100,)
    error = texts[-1]
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4100
    assert await asyncio.wait_for(slow.reader.read(), TIMEOUT) == b""
    await slow.aclose()
    await steady.aclose()


@pytest.mark.timing
async def test_a_slow_consumer_that_never_reads_again_is_cut_after_the_activity_timeout(
    server_factory: ServerFactory,
) -> None:
    """Its last frames are kept deliverable for the activity timeout only (1 s here), then
    the TCP connection is cut; the node forgot it when it was closed."""
    running = await server_factory(max_write_buffer_bytes=128 * 1024, activity_timeout=1)
    slow = await stalled_subscriber(running, "flood")
    (slow_conn,) = running.state.connections
    await flood_until_cut(running, slow_conn)
    assert slow_conn.close_code == 4100
    # It left its channels when it was closed, not when its transport goes.
    status, body = await publish(running, ["flood"], "after", "x", info="subscription_count")
    assert (status, body["channels"]["flood"]["subscription_count"]) == (200, 0)
    assert running.state.node.connections() == []
    assert running.state.connections == {slow_conn}  # its last frames still deliverable
    took = await eventually(lambda: not running.state.connections, 30.0, "the stalled client cut")
    # After the activity timeout (1 s), not the old fixed 5 s.
    bound("stalled slow consumer cut after its close", took, 3.0)
    await slow.aclose()
