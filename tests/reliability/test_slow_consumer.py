"""A subscriber that stops reading: told 4100 with a close frame, its backlog dropped."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import cast

import orjson

from tests.support.pusher import KEY, TIMEOUT, ServerFactory, publish
from tests.support.rawws import RawWebSocket, frame
from tidings.web.connection import KERNEL_UNSENT_BYTES


async def test_stalled_subscriber_gets_4100_and_a_close_frame(
    server_factory: ServerFactory,
) -> None:
    """Stalled past the mark, then reading again: a bounded tail of stale events, then
    ``pusher:error`` 4100 and close 4100 (not megabytes of backlog and an EOF)."""
    high_water = 256 * 1024
    running = await server_factory(max_write_buffer_bytes=high_water)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
    slow = await RawWebSocket.wrap(reader, writer, running.port, f"/app/{KEY}?protocol=7")
    await slow.text()  # connection_established
    slow.send(frame(0x1, b'{"event":"pusher:subscribe","data":{"channel":"flood"}}'))
    await slow.text()  # subscription_succeeded
    cast(
        asyncio.Transport, writer.transport
    ).pause_reading()  # stalled: the server's unsent bytes for it grow
    (slow_conn,) = running.state.connections
    payload = "x" * 20_000
    published = 0
    deadline = asyncio.get_running_loop().time() + 30
    while slow_conn.close_code is None:  # each publish is the barrier for the next check
        await publish(running, ["flood"], "big", f"{published}:{payload}")
        published += 1
        assert asyncio.get_running_loop().time() < deadline, "never marked slow"
    assert slow_conn.close_code == 4100
    cast(asyncio.Transport, writer.transport).resume_reading()
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
    bound = 64 * 1024 + KERNEL_UNSENT_BYTES + 64 * 1024 + 2 * (len(payload) + 100)
    assert stale_bytes <= bound, (stale_bytes, bound)
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()


async def test_a_briefly_slow_reader_gets_everything(server_factory: ServerFactory) -> None:
    """Frames held while the socket is behind are all sent, in order, once it reads again."""
    running = await server_factory(max_write_buffer_bytes=4 * 1024 * 1024)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
    ws = await RawWebSocket.wrap(reader, writer, running.port, f"/app/{KEY}?protocol=7")
    await ws.text()
    ws.send(frame(0x1, b'{"event":"pusher:subscribe","data":{"channel":"burst"}}'))
    await ws.text()
    cast(asyncio.Transport, writer.transport).pause_reading()
    count = 60
    for i in range(count):  # 1.2 MB while it is not reading: most of it is held
        await publish(running, ["burst"], "big", f"{i}:{'y' * 20_000}")
    cast(asyncio.Transport, writer.transport).resume_reading()
    seen: list[int] = []
    while len(seen) < count:
        message = orjson.loads(await ws.text())
        if message["event"] == "big":
            seen.append(int(message["data"].split(":")[0]))
    assert seen == list(range(count))
    (conn,) = running.state.connections
    assert conn.close_code is None
    await ws.aclose()
