"""The PieSocket v3 endpoint and REST publish over real sockets, plus Pusher interop.

Negative outcomes ("the sender does not get its own message") are proven by ordering:
a marker published after the message that must not arrive arrives first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.fixtures.tls import client_context, self_signed
from tests.integration.conftest import KEY, SECRET, TIMEOUT, ConnectFn, publish, signed_url
from tidings.protocol.piesocket.auth import AUTH_FAILED, make_token
from tidings.server.runner import RunningServer

V3Connect = Callable[..., Awaitable[ClientConnection]]


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next message, decoded."""
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def send(ws: ClientConnection, event: str, data: Any, meta: Any = None) -> None:
    """Publish like piesocket-js's ``channel.publish``."""
    await ws.send(orjson.dumps({"event": event, "data": data, "meta": meta}).decode())


async def closed_with(ws: ClientConnection) -> int | None:
    """Wait for the server's close; its close code."""
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    return ws.close_code


@pytest.fixture
async def v3(server: RunningServer) -> AsyncIterator[V3Connect]:
    """Open raw v3 clients to ``server``; closed after the test."""
    opened: list[ClientConnection] = []

    async def open_v3(channel: str, *, refused: bool = False, **params: str) -> ClientConnection:
        """Connect; unless ``refused``, the first message must be ``system:boot``."""
        headers = {"jwt": params.pop("jwt_header")} if "jwt_header" in params else None
        query = {"api_key": KEY, **params}
        url = f"{server.ws_url}/v3/{channel}?" + "&".join(f"{k}={v}" for k, v in query.items())
        ws = await websockets.connect(url, additional_headers=headers, max_size=None)
        opened.append(ws)
        if not refused:
            assert await recv(ws) == {"event": "system:boot"}
        return ws

    yield open_v3
    for ws in opened:
        await ws.close()


async def rest_publish(server: RunningServer, body: Any) -> tuple[int, Any]:
    """POST /api/publish; (status, JSON answer)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.http_url}/api/publish", data=orjson.dumps(body)) as response,
    ):
        return response.status, await response.json(content_type=None)


def rest_body(channel: str, event: str, data: Any, meta: Any = None) -> dict[str, Any]:
    message = {"event": event, "data": data, "meta": meta}
    return {"key": KEY, "secret": SECRET, "channelId": channel, "message": message}


async def test_rest_publish_reaches_v3_subscriber_as_sent(
    v3: V3Connect, server: RunningServer
) -> None:
    ws = await v3("chat")
    # A subscriber is on the hub once its connection is open: the marker proves it.
    status, answer = await rest_publish(server, rest_body("chat", "hello", {"n": 1}, {"m": 2}))
    assert (status, answer) == (200, {"success": True})
    assert await recv(ws) == {"event": "hello", "data": {"n": 1}, "meta": {"m": 2}}


async def test_client_message_reaches_others_but_not_sender_by_default(v3: V3Connect) -> None:
    sender, other = await v3("room", notify_self="0"), await v3("room")
    await send(sender, "say", {"text": "hi"}, {"from": "ann"})
    assert await recv(other) == {"event": "say", "data": {"text": "hi"}, "meta": {"from": "ann"}}
    await send(other, "marker", 1)
    assert (await recv(sender))["event"] == "marker"


async def test_notify_self_echoes_own_message(v3: V3Connect) -> None:
    for flag in ("1", "true"):
        ws = await v3(f"echo-{flag}", notify_self=flag)
        await send(ws, "ping-self", flag)
        assert await recv(ws) == {"event": "ping-self", "data": flag, "meta": None}


async def test_presence_list_joined_left(v3: V3Connect) -> None:
    ann = await v3("lobby", presence="1", user="ann", uuid="u-ann")
    first = await recv(ann)
    assert first == {
        "event": "system:member_list",
        "data": {"members": [{"uuid": "u-ann", "user": "ann"}]},
    }
    bob = await v3("lobby", presence="true", user="bob", uuid="u-bob")
    listed = await recv(bob)
    assert sorted(m["user"] for m in listed["data"]["members"]) == ["ann", "bob"]
    joined = await recv(ann)
    assert joined["event"] == "system:member_joined"
    assert joined["data"]["member"] == {"uuid": "u-bob", "user": "bob"}
    assert len(joined["data"]["members"]) == 2
    await bob.close()
    left = await recv(ann)
    assert left["event"] == "system:member_left"
    assert left["data"] == {
        "member": {"uuid": "u-bob", "user": "bob"},
        "members": [{"uuid": "u-ann", "user": "ann"}],
    }


async def test_jwt_private_channel_query_and_header(v3: V3Connect, server: RunningServer) -> None:
    token = make_token(secret=SECRET, channel="private-ops", now=time.time(), user="carol")
    by_query = await v3("private-ops", jwt=token, presence="1", user="ignored")
    members = (await recv(by_query))["data"]["members"]
    assert [m["user"] for m in members] == ["carol"]  # the token's user wins
    by_header = await v3("private-ops", jwt_header=token)
    await rest_publish(server, rest_body("private-ops", "deploy", "v2"))
    assert (await recv(by_header))["event"] == "deploy"


@pytest.mark.parametrize(
    "token",
    [
        make_token(secret="forged", channel="private-ops", now=time.time()),
        make_token(secret=SECRET, channel="private-other", now=time.time()),
        make_token(secret=SECRET, channel="private-ops", now=time.time() - 7200, ttl_s=60),
        "not-a-jwt",
        None,
    ],
    ids=["forged", "wrong-sub", "expired", "garbage", "missing"],
)
async def test_bad_jwt_is_refused(v3: V3Connect, token: str | None) -> None:
    ws = await v3("private-ops", refused=True, **({"jwt": token} if token else {}))
    assert await recv(ws) == {"error": AUTH_FAILED}
    assert await closed_with(ws) == 4009


@pytest.mark.parametrize(
    ("channel", "params", "code", "words"),
    [
        ("chat", {"api_key": "nope"}, 4001, "Unknown api_key"),
        ("a" * 31, {}, 4005, "Invalid channel id"),
        ("bad.name", {}, 4005, "Invalid channel id"),
        ("chat", {"notify_self": "maybe"}, 4005, "notify_self=1"),
    ],
    ids=["unknown-key", "too-long", "bad-char", "bad-flag"],
)
async def test_bad_connection_is_refused_with_error(
    v3: V3Connect, channel: str, params: dict[str, str], code: int, words: str
) -> None:
    ws = await v3(channel, refused=True, **params)
    message = await recv(ws)
    assert words in message["error"], message
    assert await closed_with(ws) == code


async def test_bad_messages_get_errors_and_connection_stays(v3: V3Connect) -> None:
    ws = await v3("noisy", notify_self="1")
    bad: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '{"data": 1}',
        '{"event": "system:member_list"}',
        '{"event": "big", "data": "' + "x" * 20_000 + '"}',
        b"\x00\x01",
    ]
    expected = ["not valid JSON", "JSON object", '"event"', "reserved", "too large", "Binary"]
    for frame, words in zip(bad, expected, strict=True):
        await ws.send(frame)
        assert words in (await recv(ws))["error"]
    await send(ws, "fine", 1)
    assert (await recv(ws))["event"] == "fine"


async def test_rest_publish_rejections(server: RunningServer) -> None:
    wrong = rest_body("chat", "e", 1) | {"secret": "wrong"}
    status, answer = await rest_publish(server, wrong)
    assert status == 401 and answer["error"] == "Invalid key or secret" and answer["hint"]
    status, answer = await rest_publish(server, rest_body("bad channel", "e", 1))
    assert status == 400 and "Invalid channel id" in answer["error"]
    status, answer = await rest_publish(server, rest_body("chat", "", 1))
    assert status == 400 and '"event"' in answer["error"]
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.http_url}/api/publish", data=b"{nope") as response,
    ):
        assert response.status == 400
        assert "not valid JSON" in (await response.json())["error"]


async def test_pusher_http_publish_reaches_v3(v3: V3Connect, server: RunningServer) -> None:
    ws = await v3("orders")
    status, _ = await publish(server, ["orders"], "created", orjson.dumps({"id": 7}).decode())
    assert status == 200
    assert await recv(ws) == {"event": "created", "data": {"id": 7}, "meta": None}
    await publish(server, ["orders"], "note", "plain text")
    assert await recv(ws) == {"event": "note", "data": "plain text", "meta": None}


async def test_v3_client_messages_reach_pusher_only_as_client_events(
    v3: V3Connect, connect: ConnectFn, server: RunningServer
) -> None:
    """A v3 client cannot forge the app's events for Pusher subscribers: on a public
    channel its message reaches v3 clients only; the backend's REST publish reaches both."""
    pusher = await connect()
    assert (await pusher.subscribe("mixed"))["event"] == "pusher_internal:subscription_succeeded"
    ws, peer = await v3("mixed"), await v3("mixed")
    await send(ws, "order-shipped", {"a": 1}, {"m": True})
    assert await recv(peer) == {"event": "order-shipped", "data": {"a": 1}, "meta": {"m": True}}
    status, answer = await rest_publish(server, rest_body("mixed", "from-rest", "s"))
    assert status == 200, answer
    # The REST publish is the barrier: Pusher saw nothing before it.
    first = await pusher.recv()
    assert (first["event"], first["data"]) == ("from-rest", "s")


async def test_v3_client_event_on_a_private_channel_reaches_pusher(
    v3: V3Connect, connect: ConnectFn
) -> None:
    """``client-*`` from a v3 client with a JWT for a private channel is a Pusher client event."""
    pusher = await connect()
    await pusher.subscribe("private-desk")
    token = make_token(secret=SECRET, channel="private-desk", now=time.time())
    ws = await v3("private-desk", jwt=token)
    await send(ws, "order-shipped", {"forged": True})
    await send(ws, "client-typing", {"who": "v3"})
    event = await pusher.recv()
    assert (event["event"], event["data"]) == ("client-typing", {"who": "v3"})


async def test_pusher_presence_and_v3_presence_share_members(
    v3: V3Connect, connect: ConnectFn
) -> None:
    pusher = await connect()
    data = orjson.dumps({"user_id": "pat", "user_info": {"name": "Pat"}}).decode()
    await pusher.subscribe("presence-team", channel_data=data)
    token = make_token(secret=SECRET, channel="presence-team", now=time.time(), user="vic")
    ws = await v3("presence-team", jwt=token, uuid="u-vic")
    listed = await recv(ws)
    assert sorted(listed["data"]["members"], key=lambda m: m["user"]) == [
        {"uuid": "pat", "user": "pat", "user_info": {"name": "Pat"}},
        {"uuid": "u-vic", "user": "vic"},
    ]
    added = await pusher.expect("pusher_internal:member_added")
    assert added["data"] == {"user_id": "vic", "user_info": {"uuid": "u-vic"}}
    await pusher.ws.close()
    left = await recv(ws)
    assert left["event"] == "system:member_left" and left["data"]["member"]["user"] == "pat"


async def test_presence_identity_comes_only_from_the_token(
    v3: V3Connect, connect: ConnectFn, server: RunningServer
) -> None:
    """``&user=admin`` cannot make "admin" a member Pusher clients see, nor sign its events."""
    pusher = await connect()
    data = orjson.dumps({"user_id": "pat"}).decode()
    await pusher.subscribe("presence-team", channel_data=data)
    bare = make_token(secret=SECRET, channel="presence-team", now=time.time())  # no user
    refused = await v3("presence-team", refused=True, jwt=bare, user="admin")
    assert await closed_with(refused) == 4009
    vic = make_token(secret=SECRET, channel="presence-team", now=time.time(), user="vic")
    ws = await v3("presence-team", jwt=vic, user="admin")
    members = (await recv(ws))["data"]["members"]
    assert sorted(m["user"] for m in members) == ["pat", "vic"]
    added = await pusher.expect("pusher_internal:member_added")
    assert added["data"]["user_id"] == "vic"
    await send(ws, "client-hi", 1)
    event = await pusher.expect("client-hi")
    assert event["user_id"] == "vic"
    url = signed_url(server.http_url, "GET", "/apps/1/channels/presence-team/users")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        users = (await response.json())["users"]
    assert sorted(u["id"] for u in users) == ["pat", "vic"]


async def test_silent_client_is_pinged_then_closed(server_factory: Any) -> None:
    server = await server_factory(activity_timeout=1)
    # A client that never answers pings: a raw TCP socket after the handshake.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /v3/quiet?api_key=" + KEY.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    boot = b'{"event":"system:boot"}'
    first = await asyncio.wait_for(reader.readexactly(2 + len(boot)), TIMEOUT)
    assert first == b"\x81" + bytes([len(boot)]) + boot  # ready
    frames = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    assert frames == b"\x89\x00"  # the server's ping
    rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # error, close, then EOF
    assert rest[0] == 0x81, rest  # a short unmasked text frame: header is 2 bytes
    error, close = rest[2 : 2 + rest[1]], rest[2 + rest[1] :]
    assert orjson.loads(error) == {"error": "Pong reply not received"}
    assert close[0] == 0x88 and int.from_bytes(close[2:4], "big") == 4201
    writer.close()


async def test_tls_serves_wss_and_https(server_factory: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = await server_factory(tls_cert=cert, tls_key=key)
    assert server.ws_url.startswith("wss://") and server.http_url.startswith("https://")
    context = client_context(cert)
    url = f"{server.ws_url}/v3/secure?api_key={KEY}&notify_self=1"
    async with websockets.connect(url, ssl=context) as ws:
        assert await recv(ws) == {"event": "system:boot"}
        await send(ws, "over-tls", 1)
        assert (await recv(ws))["event"] == "over-tls"
    pusher_url = f"{server.ws_url}/app/{KEY}?protocol=7"
    async with websockets.connect(pusher_url, ssl=context) as ws:
        assert (await recv(ws))["event"] == "pusher:connection_established"
    connector = aiohttp.TCPConnector(ssl=context)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"{server.http_url}/api/publish", data=b"{}") as response,
    ):
        assert response.status == 401  # the API answered over HTTPS


@pytest.mark.parametrize("event", ["pusher:ping", "pusher_internal:member_added", "system:x"])
async def test_rest_publish_refuses_reserved_event_names(
    v3: V3Connect, server: RunningServer, event: str
) -> None:
    """The REST API cannot inject protocol events (fake members, pings): 400 with the rule,
    nothing delivered (the next publish is the first message the subscriber gets)."""
    ws = await v3("chat")
    status, answer = await rest_publish(server, rest_body("chat", event, {"user_id": "x"}))
    assert status == 400 and "reserved" in answer["error"]
    assert "hint" in answer
    assert (await rest_publish(server, rest_body("chat", "after", 1)))[0] == 200
    assert (await recv(ws))["event"] == "after"
