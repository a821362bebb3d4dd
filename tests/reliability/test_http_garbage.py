"""Malformed, slow and abandoned HTTP requests against a real `tidings serve` process.

Every reply is ``{"error", "hint"}`` JSON, nothing is logged at ERROR, the
network noise is a rate-limited info line, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import orjson
import pytest

from tests.support.serve import ServeProcess, StartServe

TIMEOUT = 10.0
# `exchange` reads to EOF: without Connection: close the server keeps the connection for
# its keep-alive timeout (10 s), as long as TIMEOUT, and the read races it.
_HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

GARBAGE = {
    "url too long": b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header too long": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    "bad content-length": b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "duplicate content-length": (
        b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}"
    ),
    "malformed chunked body": (
        b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nhello\r\n0\r\n\r\n"
    ),
    "invalid method": b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "not http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
    "bad http version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "space in header name": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
}


@pytest.fixture
async def server_process(serve: StartServe) -> ServeProcess:
    """`tidings serve` for this module's tests (stopped, output shown on failure, by ``serve``)."""
    return await serve({"TIDINGS_REQUEST_BODY_TIMEOUT": "1"})


async def exchange(port: int, data: bytes) -> tuple[int, bytes, bytes]:
    """Send raw ``data``; return (status, headers, body) of the reply (read to EOF)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.lower(), body


def errors_logged(process: ServeProcess) -> list[str]:
    return [line.decode() for line in process.lines if b'"level": "error"' in line]


async def test_garbage_gets_a_json_4xx(server_process: ServeProcess) -> None:
    """Each kind of malformed request answers 4xx JSON {error, hint} and logs no ERROR."""
    for name, data in GARBAGE.items():
        status, head, body = await exchange(server_process.port, data)
        assert 400 <= status < 500, (name, status, body)
        assert b"content-type: application/json" in head, (name, head)
        reply = orjson.loads(body)
        assert reply["error"] and reply["hint"], (name, reply)
    assert errors_logged(server_process) == []


async def test_garbage_storm_is_quiet_and_the_server_keeps_serving(
    server_process: ServeProcess,
) -> None:
    """300 malformed requests: at most a few info lines (rate-limited), no ERROR, /health 200."""
    kinds = sorted(GARBAGE)
    started = asyncio.get_running_loop().time()
    for i in range(300):
        status, _, _ = await exchange(server_process.port, GARBAGE[kinds[i % len(kinds)]])
        assert 400 <= status < 500
    elapsed = asyncio.get_running_loop().time() - started
    noise = [line for line in server_process.lines if b'"logger": "tidings.network"' in line]
    assert len(noise) <= elapsed + 2  # one line per second at most
    assert errors_logged(server_process) == []
    status, _, body = await exchange(server_process.port, _HEALTH)
    assert status == 200, body


async def test_stalled_body_gets_408_and_is_closed(server_process: ServeProcess) -> None:
    """A POST whose body stops after 10 bytes is answered 408 JSON and closed in time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server_process.port)
    writer.write(
        b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"name":"x'
    )
    started = asyncio.get_running_loop().time()
    raw = await asyncio.wait_for(reader.read(), TIMEOUT)  # EOF: the server closed it
    assert asyncio.get_running_loop().time() - started < 5
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), raw
    reply = orjson.loads(body)
    assert "did not arrive within 1 s" in reply["error"] and reply["hint"]
    writer.close()
    assert errors_logged(server_process) == []


async def test_trickling_body_gets_408(server_process: ServeProcess) -> None:
    """A body sent at a few bytes per second is cut like a stalled one."""
    loop = asyncio.get_running_loop()
    with socket.create_connection(("127.0.0.1", server_process.port)) as sock:
        sock.setblocking(False)
        head = b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
        await loop.sock_sendall(sock, head)
        replied = asyncio.Event()

        async def trickle() -> None:
            # Stops at the first byte of the reply. A byte sent after the server closed
            # draws a reset: that must cost the sender, never the reply already received,
            # so the socket is used raw (an asyncio transport would turn the failed write
            # into an exception on the reading side and drop the buffered reply).
            for _ in range(500):
                try:
                    await loop.sock_sendall(sock, b" ")
                except OSError:
                    return
                try:
                    await asyncio.wait_for(replied.wait(), 0.2)
                    return
                except TimeoutError:
                    continue

        async def read_reply() -> bytes:
            raw = b""
            while True:
                try:
                    chunk = await loop.sock_recv(sock, 65536)
                except ConnectionResetError:
                    return raw  # the kernel hands over what arrived before the reset
                if not chunk:
                    return raw
                raw += chunk
                replied.set()

        dripping = asyncio.create_task(trickle())
        try:
            raw = await asyncio.wait_for(read_reply(), TIMEOUT)
        finally:
            dripping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dripping
    assert raw.startswith(b"HTTP/1.1 408"), raw


async def test_client_hanging_up_mid_body_logs_no_error(server_process: ServeProcess) -> None:
    """Clients that disconnect halfway through a body leave no ERROR line."""
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", server_process.port)
        writer.write(b"POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()
    # Barrier: a well-formed request after them is served, so they were all handled.
    status, _, _ = await exchange(server_process.port, _HEALTH)
    assert status == 200
    await server_process.wait_for_line(b"client left mid-request")
    assert errors_logged(server_process) == []


async def test_tls_on_the_plain_port_is_one_warning_with_the_fix(
    server_process: ServeProcess,
) -> None:
    """ClientHellos on the plain port: each is closed; one warning says how to fix it."""
    for _ in range(5):
        status, _, body = await exchange(server_process.port, GARBAGE["not http"])
        assert status == 400 and "TLS" in orjson.loads(body)["error"]
    await server_process.wait_for_line(b"tls on a plain port")
    warned = [r for r in server_process.records() if r.get("event") == "tls on a plain port"]
    assert len(warned) == 1, warned
    assert warned[0]["level"] == "warning"
    assert "ws://" in warned[0]["hint"] and "--tls-cert" in warned[0]["hint"]
