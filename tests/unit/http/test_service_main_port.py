"""The main port's one path (route, handshake, handler, error renderer, metrics), no sockets.

Every answer the shell writes comes from ``MainPort``: these drive it with
``Request`` values and read the ``Reply`` (or the ``Upgrade``) it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.fixtures.api import signed_url
from tidings.bootstrap import WIRES, build_node, build_router
from tidings.config import Settings
from tidings.http.router import Api
from tidings.http.service import UNMATCHED, MainPort
from tidings.protocol.http1 import RequestReader
from tidings.protocol.http_request import Request
from tidings.web.reply import Reply
from tidings.web.state import ServerState
from tidings.web.upgrade import Upgrade
from tidings.web.writer import Flusher

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture
async def main_port() -> AsyncIterator[MainPort]:
    settings = Settings.load()
    node = build_node(settings)
    await node.start()
    state = ServerState(node=node, settings=settings, flusher=Flusher(asyncio.get_running_loop()))
    yield MainPort(Api(state), build_router(settings))
    await node.close()


def parse(data: bytes) -> Request:
    (request,) = RequestReader(max_body=1 << 20).feed(data)
    return request


def upgrade(**headers: str) -> bytes:
    fields = {
        "Host": "x",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    } | headers
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value)
    return f"GET /app/app-key?protocol=7 HTTP/1.1\r\n{lines}\r\n".encode()


async def reply(main_port: MainPort, data: bytes) -> Reply:
    answer = await main_port(parse(data))
    assert isinstance(answer, Reply)
    return answer


async def test_a_valid_upgrade_names_its_wire_and_answer(main_port: MainPort) -> None:
    answer = await main_port(parse(upgrade(Origin="http://o")))
    assert isinstance(answer, Upgrade)
    assert answer.wire is WIRES[0] and answer.origin == "http://o"
    assert answer.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3's example
    assert answer.handshake.params == {"key": "app-key"}
    assert answer.handshake.query == {"protocol": "7"}


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Upgrade": ""}, "asks for no WebSocket"),
        ({"Connection": "keep-alive"}, "Connection header"),
        ({"Sec-WebSocket-Version": "99"}, "unsupported WebSocket version"),
        ({"Sec-WebSocket-Key": "abc"}, "Sec-WebSocket-Key"),
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQé="}, "Sec-WebSocket-Key"),
    ],
    ids=[
        "no upgrade",
        "no connection upgrade",
        "version",
        "short key",
        "non-ascii key",
    ],
)
async def test_a_bad_handshake_is_a_json_400(
    main_port: MainPort, headers: dict[str, str], words: str
) -> None:
    answer = await reply(main_port, upgrade(**headers))
    body = orjson.loads(answer.body)
    assert answer.status == 400 and answer.close
    assert words in body["error"] and body["hint"]


async def test_an_http_1_0_upgrade_is_refused(main_port: MainPort) -> None:
    answer = await reply(main_port, upgrade().replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert answer.status == 400 and b"HTTP/1.1" in answer.body


async def test_errors_are_rendered_once_and_counted(main_port: MainPort) -> None:
    stats = main_port.api.state.http
    missing = await reply(main_port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert missing.status == 404 and missing.error.startswith("no such endpoint")
    unsigned = await reply(main_port, b"GET /apps/1/channels HTTP/1.1\r\nHost: x\r\n\r\n")
    assert unsigned.status == 401 and orjson.loads(unsigned.body)["error"] == "auth_key is missing"
    assert stats.requests[(UNMATCHED, "GET", 404)] == 1
    assert stats.requests[("/apps/{app_id}/channels", "GET", 401)] == 1


async def test_a_signed_publish_is_answered_with_an_empty_object(
    main_port: MainPort,
) -> None:
    body = orjson.dumps({"name": "e", "channels": ["c"], "data": "{}"})
    url = signed_url("http://x", "POST", "/apps/1/events", body)
    target = url.removeprefix("http://x").encode()
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (
        target,
        len(body),
    )
    answer = await reply(main_port, head + body)
    assert (answer.status, answer.body) == (200, b"{}")
    assert main_port.api.state.http.requests[("/apps/{app_id}/events", "POST", 200)] == 1
