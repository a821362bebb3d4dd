"""The main port's shell: WebSocket upgrades and HTTP requests on one connection, over raw
sockets (keep-alive, pipelining, split heads and bodies, upgrades after requests)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson

from tests.integration.conftest import (
    APP_ID,
    TIMEOUT,
    ServerFactory,
    client,
    eventually,
    signed_url,
)
from tests.support.rawws import RawWebSocket, frame
from tidings.server.runner import RunningServer


def publish_request(
    server: RunningServer, channel: str, event: str = "e", *, data: str = "{}", **extra: str
) -> bytes:
    body = orjson.dumps({"name": event, "channels": [channel], "data": data})
    url = signed_url(server.http_url, "POST", f"/apps/{APP_ID}/events", body, extra=extra or None)
    parts = urlsplit(url)
    head = (
        f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get_request(server: RunningServer, path: str) -> bytes:
    parts = urlsplit(signed_url(server.http_url, "GET", path))
    return f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        name.lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), TIMEOUT)
    return status, headers, body


async def test_publishes_on_one_keep_alive_connection_arrive_in_order(
    server: RunningServer,
) -> None:
    sub = await client(server)
    await sub.subscribe("orders")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for i in range(5):
        writer.write(publish_request(server, "orders", f"e{i}"))
        status, headers, body = await read_reply(reader)
        assert (status, body) == (200, b"{}")
        assert headers["content-type"] == "application/json; charset=utf-8"
    assert [(await sub.expect(f"e{i}"))["event"] for i in range(5)] == [f"e{i}" for i in range(5)]
    assert server.state.http.requests[("/apps/{app_id}/events", "POST", 200)] == 5
    writer.close()


async def test_pipelined_and_split_requests_are_each_answered(server: RunningServer) -> None:
    sub = await client(server)
    await sub.subscribe("pipes")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    # Two requests in one write, then one sent a few bytes at a time.
    writer.write(publish_request(server, "pipes", "a") + publish_request(server, "pipes", "b"))
    third = publish_request(server, "pipes", "c")
    for i in range(0, len(third), 7):
        writer.write(third[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0.001)
    for _ in range(3):
        assert (await read_reply(reader))[0] == 200
    assert [(await sub.recv())["event"] for _ in range(3)] == ["a", "b", "c"]
    writer.close()


async def test_a_refused_publish_gets_the_api_answer_and_the_connection_goes_on(
    server: RunningServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    good = publish_request(server, "ch")
    bad = good.replace(b"auth_signature=", b"auth_signature=0", 1)
    writer.write(bad)
    status, _, body = await read_reply(reader)
    answer = orjson.loads(body)
    assert status == 401 and "Invalid signature" in answer["error"] and answer["hint"]
    # The connection goes on, and still serves publishes and reads.
    writer.write(good + get_request(server, f"/apps/{APP_ID}/channels"))
    assert (await read_reply(reader))[:1] == (200,)
    status, _, body = await read_reply(reader)
    assert status == 200 and "channels" in orjson.loads(body)
    writer.close()


async def test_a_publish_asking_for_info_gets_its_counts(server: RunningServer) -> None:
    sub = await client(server)
    await sub.subscribe("counted")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(publish_request(server, "counted", info="subscription_count"))
    status, _, body = await read_reply(reader)
    assert status == 200
    assert orjson.loads(body) == {"channels": {"counted": {"subscription_count": 1}}}
    writer.close()


async def test_a_malformed_upgrade_gets_a_json_400(server: RunningServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 99\r\n\r\n"
    )
    status, headers, body = await read_reply(reader)
    assert status == 400 and headers["sec-websocket-version"] == "13"
    assert "version" in orjson.loads(body)["error"]
    writer.close()


async def test_frames_sent_with_the_upgrade_request_are_read(server: RunningServer) -> None:

    ping = frame(0x1, b'{"event":"pusher:ping","data":{}}')
    ws = await RawWebSocket.open(server.port, "/app/app-key?protocol=7", extra=ping)
    assert b"pusher:connection_established" in await ws.text()
    assert b"pusher:pong" in await ws.text()
    await ws.aclose()


async def test_an_unfinished_head_is_cut_after_the_handshake_timeout(
    server_factory: ServerFactory,
) -> None:
    running = await server_factory(handshake_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET /app/app-key HTTP/1.1\r\nHost: x\r\n")  # no end of head
    data = await asyncio.wait_for(reader.read(), TIMEOUT)
    assert data == b""  # closed, never upgraded
    writer.close()


async def test_an_upgrade_on_a_connection_that_served_a_request_works(
    server: RunningServer,
) -> None:
    """HTTP clients reuse pooled connections for WebSockets (aiohttp's ws_connect does)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_reply(reader))[0] == 200
    ws = await RawWebSocket.wrap(reader, writer, server.port, "/app/app-key?protocol=7")
    assert b"pusher:connection_established" in await ws.text()
    ws.send(frame(0x1, b'{"event":"pusher:ping","data":{}}'))
    assert b"pusher:pong" in await ws.text()
    assert len(server.state.connections) == 1
    ws.send(frame(0x8, b"\x03\xe8"))
    assert await ws.close_code() == 1000

    async def gone() -> bool:
        return not server.state.connections

    await eventually(gone)
    await ws.aclose()
