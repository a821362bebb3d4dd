"""Defects of the two-stack main port (issue #25), each fixed by the one shell.

Each test failed on the front door + aiohttp hand-over (main at ed2085c): an
upgrade aiohttp accepted after the front door refused it was never freed, a
client that did not read its replies made the server buffer them without
bound, a non-ASCII key was a 500 with a traceback, frames behind an upgrade on
a kept-alive connection were lost, and a stalled head lived twice the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections import Counter

import orjson

from tests.integration.conftest import TIMEOUT, ServerFactory, eventually
from tests.integration.test_front_door import publish_request, read_reply
from tests.support.rawws import RawWebSocket, frame
from tidings.server.runner import RunningServer

_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
# What stays of a connection in the server; none may outlive it.
_PER_CONNECTION = {"FrontDoor", "WebSocketProtocol", "ClientConnection", "RequestHandler"}


def _upgrade(
    path: bytes = b"/app/no-such-key?protocol=7",
    *,
    method: bytes = b"GET",
    version: bytes = b"1.1",
    key: bytes = _KEY,
    extra: bytes = b"",
) -> bytes:
    return (
        method + b" " + path + b" HTTP/" + version + b"\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )


# Upgrades the front door refused and aiohttp accepted (issue #25, defect 1).
_STRAYS = {
    "key with a trailing space": _upgrade(key=_KEY + b" "),
    "HTTP/1.0": _upgrade(version=b"1.0"),
    "HEAD": _upgrade(method=b"HEAD"),
    "a head over 8 KiB": _upgrade(
        extra=b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 90) for i in range(95))
    ),
    "after GET /health": b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + _upgrade(),
}


def _alive() -> Counter[str]:
    gc.collect()
    return Counter(
        type(o).__name__
        for o in gc.get_objects()
        if type(o).__name__ in _PER_CONNECTION
        and type(o).__module__.startswith(("tidings.", "aiohttp."))
    )


async def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, read what comes until the server closes, then close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()


async def test_refused_or_odd_upgrades_leave_nothing_behind(server: RunningServer) -> None:
    """Each odd upgrade gets an answer from the one shell, and nothing of it stays."""
    for name, data in _STRAYS.items():
        for _ in range(5):
            answer = await _exchange(server.port, data)
            assert b" 101 Switching" in answer or answer.startswith(b"HTTP/1.1 4"), (name, answer)

    async def all_freed() -> bool:
        return not server.reception.doors and not server.state.connections and not _alive()

    await eventually(all_freed, timeout=30)  # an outcome: generous on a busy machine


async def test_a_client_that_does_not_read_its_replies_stops_being_read(
    server: RunningServer,
) -> None:
    """Publishes pipelined one per write, replies never read: the server stops reading.

    Small socket buffers on both ends, so the kernel holds few replies and the
    server's own buffering shows at once.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    request = publish_request(server, "nobody-listens")
    writer.write(request)
    assert (await read_reply(reader))[0] == 200  # the server has the connection now
    (door,) = server.reception.doors
    transport = door._transport
    assert transport is not None
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sent = 3000
    try:
        for _ in range(sent):
            writer.write(request)
            await asyncio.sleep(0)  # one request per segment, as the server reads them
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(writer.drain(), 1.0)  # the server read it all (or stopped)
        served = server.state.http.requests.get(("/apps/{app_id}/events", "POST", 200), 0) - 1
        assert served < sent, "the server read every request of a client that reads nothing"
        assert transport.get_write_buffer_size() < 256 * 1024
    finally:
        writer.transport.abort()


async def test_a_non_ascii_websocket_key_is_a_json_400(server: RunningServer) -> None:
    answer = await _exchange(server.port, _upgrade(key="dGhlIHNhbXBsZSBub25jZQé=".encode()))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"application/json" in head
    assert "Sec-WebSocket-Key" in orjson.loads(body)["error"]


async def test_frames_behind_an_upgrade_on_a_kept_alive_connection_are_read(
    server: RunningServer,
) -> None:
    """GET /health, then an upgrade with a pusher:ping right behind it, in one write."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    ping = frame(0x1, b'{"event":"pusher:ping","data":{}}')
    writer.write(
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + _upgrade(b"/app/app-key?protocol=7") + ping
    )
    assert (await read_reply(reader))[0] == 200
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101"), head
    ws = RawWebSocket(reader, writer)
    assert b"pusher:connection_established" in await ws.text()
    assert b"pusher:pong" in await ws.text()
    await ws.aclose()


async def test_a_stalled_head_is_cut_after_one_handshake_timeout(
    server_factory: ServerFactory,
) -> None:
    """Half a request head is closed after handshake_timeout, not twice as long."""
    running = await server_factory(handshake_timeout=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no end of head
    assert await asyncio.wait_for(reader.read(), 1.8) == b""
    writer.close()


async def test_a_refusal_with_unread_input_still_reaches_the_client(server: RunningServer) -> None:
    """A 413 sent before a 1 MiB body is read: the client reads it (no TCP reset)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    size = 64 * 1024 * 1024
    writer.write(b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    writer.write(b"x" * (1024 * 1024))  # the server refuses before reading this
    status, headers, body = await read_reply(reader)
    assert status == 413 and headers["connection"] == "close"
    assert "too large" in orjson.loads(body)["error"]
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # then a clean end
    writer.close()
