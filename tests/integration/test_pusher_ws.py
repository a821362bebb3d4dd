"""The Pusher protocol endpoint end to end: real server on port 0, real WebSocket clients."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.fixtures.tls import self_signed
from tests.integration.conftest import (
    APP_ID,
    KEY,
    SECRET,
    TIMEOUT,
    ConnectFn,
    PusherClient,
    ServerFactory,
    close_and_wait,
    nothing_before_barrier,
    publish,
)
from tidings.server.runner import RunningServer


async def test_connection_established(connect: ConnectFn) -> None:
    """The first frame carries a socket id like "123.456" and the activity timeout."""
    client = await connect()
    assert re.fullmatch(r"\d+\.\d+", client.socket_id)
    assert client.established["activity_timeout"] == 30


async def test_ping_pong(connect: ConnectFn) -> None:
    """pusher:ping is answered with pusher:pong."""
    client = await connect()
    await client.send("pusher:ping", {})
    assert (await client.recv())["event"] == "pusher:pong"


async def test_public_subscribe_and_http_publish(server: RunningServer, connect: ConnectFn) -> None:
    """An event triggered over the HTTP API reaches a public-channel subscriber."""
    client = await connect()
    reply = await client.subscribe("news")
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    assert reply["channel"] == "news"
    status, body = await publish(server, ["news"], "story", '{"title":"hi"}')
    assert (status, body) == (200, {})
    message = await client.expect("story")
    assert message["channel"] == "news"
    assert message["data"] == {"title": "hi"}


async def test_publish_reaches_every_subscriber_in_order(
    server: RunningServer, connect: ConnectFn
) -> None:
    """Several subscribers each get every event, in publish order."""
    clients = [await connect() for _ in range(5)]
    for client in clients:
        await client.subscribe("ticker")
    for i in range(20):
        await publish(server, ["ticker"], "tick", str(i))
    for client in clients:
        seen = [(await client.expect("tick"))["data"] for _ in range(20)]
        assert seen == list(range(20))


async def test_socket_id_excludes_that_connection(
    server: RunningServer, connect: ConnectFn
) -> None:
    """A publish with socket_id skips that connection (Echo's toOthers)."""
    sender, other = await connect(), await connect()
    await sender.subscribe("room")
    await other.subscribe("room")
    await publish(server, ["room"], "said", '"x"', socket_id=sender.socket_id)
    assert (await other.expect("said"))["data"] == "x"
    await nothing_before_barrier(server, sender, "room")


async def test_private_channel_auth(connect: ConnectFn) -> None:
    """A correct signature subscribes; a forged one gets subscription_error and no events."""
    client = await connect()
    ok = await client.subscribe("private-orders")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    bad = await client.subscribe("private-secret", auth=f"{KEY}:{'0' * 64}")
    assert bad["event"] == "pusher:subscription_error"
    assert bad["channel"] == "private-secret"
    assert bad["data"]["status"] == 401


async def test_private_channel_without_auth(connect: ConnectFn) -> None:
    """A private subscribe without auth is refused with a reason."""
    client = await connect()
    await client.send("pusher:subscribe", {"channel": "private-x"})
    reply = await client.expect("pusher:subscription_error")
    assert reply["data"]["type"] == "AuthError"


async def test_presence_members_added_removed(connect: ConnectFn) -> None:
    """Presence: the member list on join, member_added to others, member_removed on leave."""
    alice, bob = await connect(), await connect()
    joined = await alice.subscribe(
        "presence-room", channel_data='{"user_id":"alice","user_info":{"name":"A"}}'
    )
    assert joined["data"]["presence"]["ids"] == ["alice"]
    assert joined["data"]["presence"]["hash"] == {"alice": {"name": "A"}}
    await bob.subscribe("presence-room", channel_data='{"user_id":"bob"}')
    added = await alice.expect("pusher_internal:member_added")
    assert added["data"]["user_id"] == "bob"
    await bob.send("pusher:unsubscribe", {"channel": "presence-room"})
    removed = await alice.expect("pusher_internal:member_removed")
    assert removed["data"] == {"user_id": "bob"}


async def test_presence_dedupes_a_user_with_two_connections(
    server: RunningServer, connect: ConnectFn
) -> None:
    """A user on two connections is one member: one member_added, member_removed after both left."""
    watcher, tab1, tab2 = await connect(), await connect(), await connect()
    await watcher.subscribe("presence-d", channel_data='{"user_id":"w"}')
    await tab1.subscribe("presence-d", channel_data='{"user_id":"u"}')
    await watcher.expect("pusher_internal:member_added")
    reply = await tab2.subscribe("presence-d", channel_data='{"user_id":"u"}')
    assert reply["data"]["presence"]["count"] == 2
    await nothing_before_barrier(server, watcher, "presence-d")
    await close_and_wait(server, tab1)
    await nothing_before_barrier(server, watcher, "presence-d")
    await tab2.ws.close()
    removed = await watcher.expect("pusher_internal:member_removed")
    assert removed["data"]["user_id"] == "u"


async def test_presence_member_limit(server_factory: ServerFactory) -> None:
    """Past max_presence_members distinct users, a presence subscribe is refused (LimitReached)."""
    running = await server_factory(max_presence_members=2)
    replies = []
    for user in ("u1", "u2", "u3"):
        ws = await websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7")
        established = orjson.loads(await ws.recv())
        client = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
        replies.append(
            await client.subscribe("presence-full", channel_data=f'{{"user_id":"{user}"}}')
        )
    assert [r["event"] for r in replies[:2]] == ["pusher_internal:subscription_succeeded"] * 2
    assert replies[2]["event"] == "pusher:subscription_error"
    assert replies[2]["data"]["type"] == "LimitReached"


async def test_client_events_reach_others_not_sender(
    server: RunningServer, connect: ConnectFn
) -> None:
    """A client event on a private channel reaches the other subscriber, never the sender."""
    a, b = await connect(), await connect()
    await a.subscribe("private-chat")
    await b.subscribe("private-chat")
    await a.send("client-typing", {"who": "a"}, channel="private-chat")
    message = await b.expect("client-typing")
    assert message["data"] == {"who": "a"}
    assert message["channel"] == "private-chat"
    await nothing_before_barrier(server, a, "private-chat")


async def test_client_event_on_presence_carries_user_id(connect: ConnectFn) -> None:
    """Client events on presence channels carry the sender's user_id."""
    a, b = await connect(), await connect()
    await a.subscribe("presence-c", channel_data='{"user_id":"ua"}')
    await b.subscribe("presence-c", channel_data='{"user_id":"ub"}')
    await a.send("client-hi", {}, channel="presence-c")
    message = await b.expect("client-hi")
    assert message["user_id"] == "ua"


async def test_client_event_on_public_channel_rejected(
    server: RunningServer, connect: ConnectFn
) -> None:
    """Client events on public channels get a pusher:error and the connection stays usable."""
    a, b = await connect(), await connect()
    await a.subscribe("public-room")
    await b.subscribe("public-room")
    await a.send("client-x", {}, channel="public-room")
    error = await a.expect("pusher:error")
    assert "private" in error["data"]["message"]
    await nothing_before_barrier(server, b, "public-room")
    await a.send("pusher:ping", {})
    assert (await a.expect("pusher:pong"))["event"] == "pusher:pong"


async def events_until_barrier(
    server: RunningServer, client: PusherClient, channel: str, event: str
) -> list[dict[str, Any]]:
    """Every ``event`` message ``client`` got before a barrier published now on ``channel``."""
    await publish(server, [channel], "test-barrier", '"barrier"')
    out: list[dict[str, Any]] = []
    while (message := await client.recv())["event"] != "test-barrier":
        if message["event"] == event:
            out.append(message)
    return out


async def test_client_event_flood_is_cut_at_the_rate_limit(
    server: RunningServer, connect: ConnectFn
) -> None:
    """40 client events at once: the other member gets the first 10 (Pusher's limit per
    second), the sender a 4301 for each of the rest, and both connections keep working."""
    a, b = await connect(), await connect()
    await a.subscribe("private-flood")
    await b.subscribe("private-flood")
    for i in range(40):
        await a.send("client-typing", {"i": i}, channel="private-flood")
    # The pong follows the server's answers to all 40, in order.
    await a.send("pusher:ping", {})
    errors = []
    while (message := await a.recv())["event"] != "pusher:pong":
        if message["event"] == "pusher:error":
            errors.append(message)
    received = await events_until_barrier(server, b, "private-flood", "client-typing")
    # The bucket refills while the 40 are read, so one more may pass; never more.
    assert len(received) in (10, 11)
    assert [m["data"]["i"] for m in received] == list(range(len(received)))
    assert len(errors) == 40 - len(received)
    assert {e["data"]["code"] for e in errors} == {4301}
    assert "rate limit" in errors[0]["data"]["message"]
    await publish(server, ["private-flood"], "after", '{"ok":true}')
    assert (await b.expect("after"))["data"] == {"ok": True}
    await a.send("pusher:ping", {})
    assert (await a.expect("pusher:pong"))["event"] == "pusher:pong"


async def test_client_events_disabled_for_app(server_factory: ServerFactory) -> None:
    """An app without client events refuses them (4301) with how to enable them; nothing is
    relayed, and the connection keeps working."""
    running = await server_factory(default_app_enable_client_messages=False)
    clients = []
    for _ in range(2):
        ws = await websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7")
        established = orjson.loads(await ws.recv())
        clients.append(PusherClient(ws, orjson.loads(established["data"])["socket_id"], {}))
    sender, peer = clients
    try:
        await sender.subscribe("private-q")
        await peer.subscribe("private-q")
        await sender.send("client-x", {"n": 1}, channel="private-q")
        error = await sender.expect("pusher:error")
        assert error["data"]["code"] == 4301
        assert "enable_client_messages" in error["data"]["message"]
        # The publish is a barrier: the peer got nothing before it.
        await publish(running, ["private-q"], "barrier", "{}")
        assert (await peer.recv())["event"] == "barrier"
        await sender.send("pusher:ping", {})
        await sender.expect("pusher:pong")
    finally:
        for client in clients:
            await client.ws.close()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("not json", "JSON"),
        ("[1,2]", "object"),
        ('{"data":{}}', "event"),
        ('{"event":"pusher:nonsense","data":{}}', "pusher:nonsense"),
        ('"str"', "object"),
    ],
)
async def test_bad_messages_get_errors_and_connection_survives(
    connect: ConnectFn, raw: str, words: str
) -> None:
    """Malformed or unknown messages get a code-less pusher:error naming the problem; the
    connection keeps working."""
    client = await connect()
    await client.ws.send(raw)
    error = await client.expect("pusher:error")
    assert error["data"]["code"] is None
    assert words in error["data"]["message"]
    await client.send("pusher:ping", {})
    await client.expect("pusher:pong")


async def test_binary_frame_rejected(connect: ConnectFn) -> None:
    """Binary frames get a code-less pusher:error saying to send text; the connection stays."""
    client = await connect()
    await client.ws.send(b"\x00\x01")
    error = await client.expect("pusher:error")
    assert error["data"]["code"] is None
    assert "binary" in error["data"]["message"] and "text" in error["data"]["message"]
    await client.send("pusher:ping", {})
    await client.expect("pusher:pong")


async def test_bad_channel_name_rejected(connect: ConnectFn) -> None:
    """A channel name with forbidden characters is refused (InvalidChannel, 400) with the
    characters allowed; other subscriptions keep working."""
    client = await connect()
    reply = await client.subscribe("bad channel!")
    assert reply["event"] == "pusher:subscription_error"
    assert reply["channel"] == "bad channel!"
    assert reply["data"]["type"] == "InvalidChannel" and reply["data"]["status"] == 400
    assert "[-a-zA-Z0-9_=@,.;]" in reply["data"]["error"]
    ok = await client.subscribe("good-channel")
    assert ok["event"] == "pusher_internal:subscription_succeeded"


async def test_too_many_subscriptions(server_factory: ServerFactory) -> None:
    """Past max_subscriptions_per_connection, a subscribe is refused (LimitReached); the
    channels already joined keep receiving."""
    running = await server_factory(max_subscriptions_per_connection=3)
    async with websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7") as ws:
        established = orjson.loads(await ws.recv())
        client = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
        for i in range(3):
            ok = await client.subscribe(f"c{i}")
            assert ok["event"] == "pusher_internal:subscription_succeeded"
        refused = await client.subscribe("c3")
        assert refused["event"] == "pusher:subscription_error"
        assert refused["data"]["type"] == "LimitReached"
        assert "3 channels" in refused["data"]["error"]
        await publish(running, ["c2"], "still", '"here"')
        assert (await client.expect("still"))["channel"] == "c2"


async def test_unknown_app_key_closes_4001(server: RunningServer) -> None:
    """An unknown key gets pusher:error 4001 naming the key, and a close with code 4001."""
    async with websockets.connect(f"{server.ws_url}/app/nope?protocol=7") as ws:
        error = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == 4001 and "'nope'" in error["data"]["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_unsupported_protocol_closes_4007(server: RunningServer) -> None:
    """An unsupported protocol version is refused with 4007."""
    async with websockets.connect(f"{server.ws_url}/app/{KEY}?protocol=2") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4007


async def test_cache_channel_miss_then_last_event(
    server: RunningServer, connect: ConnectFn
) -> None:
    """A cache channel answers cache_miss when empty, then replays its last event to newcomers."""
    first = await connect()
    await first.subscribe("cache-prices")
    miss = await first.expect("pusher:cache_miss")
    assert miss["channel"] == "cache-prices"
    await publish(server, ["cache-prices"], "price", "42")
    await first.expect("price")
    late = await connect()
    await late.subscribe("cache-prices")
    replay = await late.expect("price")
    assert replay["data"] == 42


async def test_graceful_shutdown_sends_4200(server: RunningServer, connect: ConnectFn) -> None:
    """On shutdown, clients get pusher:error 4200 (reconnect) and a 4200 close."""
    client = await connect()
    await server.shutdown()
    error = await client.expect("pusher:error")
    assert error["data"]["code"] == 4200
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(client.ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4200


async def test_silent_client_is_pinged_then_closed(server_factory: ServerFactory) -> None:
    """A client that never answers the server's pusher:ping is closed with 4201."""
    running = await server_factory(activity_timeout=1)
    async with websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7") as ws:
        await ws.recv()  # connection_established
        ping = orjson.loads(await asyncio.wait_for(ws.recv(), 4))
        assert ping["event"] == "pusher:ping"
        error = orjson.loads(await asyncio.wait_for(ws.recv(), 4))
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == 4201
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 4)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4201


async def test_stalled_handshake_is_closed(server_factory: ServerFactory) -> None:
    """A TCP connection that never sends a request is closed after handshake_timeout."""
    running = await server_factory(handshake_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET /app/app-key?protocol=7 HTTP/1.1\r\n")  # headers never finish
    data = await asyncio.wait_for(reader.read(), TIMEOUT)
    assert data == b""  # closed by the server
    writer.close()


async def test_open_websocket_outlives_the_handshake_timeout(
    server_factory: ServerFactory,
) -> None:
    """The handshake timeout ends stalled handshakes only: an open WebSocket stays."""
    running = await server_factory(handshake_timeout=0.3)
    async with websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7") as ws:
        established = orjson.loads(await ws.recv())
        assert established["event"] == "pusher:connection_established"
        # Barrier: a connection opened after this one that never sends its request is
        # closed at ITS handshake timeout, so this one's would have passed by then.
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        try:
            await asyncio.wait_for(reader.read(), TIMEOUT)  # returns when the server closes it
        finally:
            writer.close()
        await ws.send('{"event":"pusher:ping","data":{}}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["event"] == "pusher:pong"


async def test_stalled_tls_handshake_is_closed(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """With TLS, a TCP connection that never starts the TLS handshake is closed after
    handshake_timeout too (it never reaches the HTTP layer)."""
    cert, key = self_signed(tmp_path)
    running = await server_factory(handshake_timeout=0.3, tls_cert=cert, tls_key=key)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    started = asyncio.get_running_loop().time()
    data = await asyncio.wait_for(reader.read(), TIMEOUT)
    assert data == b""  # closed by the server
    assert asyncio.get_running_loop().time() - started < 3
    writer.close()


async def test_slow_consumer_closed_without_slowing_others(
    server_factory: ServerFactory,
) -> None:
    """A client that stops reading is closed with 4100 while a reading client gets everything."""
    running = await server_factory(max_write_buffer_bytes=64 * 1024)
    url = f"{running.ws_url}/app/{KEY}?protocol=7"
    # The slow client: a raw socket with a tiny receive buffer that never reads.
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", running.port))
    sock.setblocking(False)
    slow = await websockets.connect(url, sock=sock, max_size=None)
    await slow.recv()
    await slow.send('{"event":"pusher:subscribe","data":{"channel":"flood"}}')
    await slow.recv()
    slow.transport.pause_reading()  # stop reading: the server's buffer for it fills up
    (slow_conn,) = running.state.connections
    async with websockets.connect(url, max_size=None) as fast:
        await fast.recv()
        await fast.send('{"event":"pusher:subscribe","data":{"channel":"flood"}}')
        await fast.recv()
        payload = "x" * 20_000
        count = 200

        async def read_all() -> int:
            received = 0
            while received < count:
                message = orjson.loads(await asyncio.wait_for(fast.recv(), TIMEOUT))
                if message["event"] == "big":
                    received += 1
            return received

        # The fast client reads while the events are published (a client that only
        # reads afterwards is slow too: its backlog passes the 64 KiB mark).
        reading = asyncio.create_task(read_all())
        for i in range(count):
            await publish(running, ["flood"], "big", f"{i}:{payload}")
        assert await reading == count
    assert slow_conn.close_code == 4100
    slow.transport.abort()


async def test_subscription_count_when_enabled(server_factory: ServerFactory) -> None:
    """With subscription counting on, subscribers get pusher_internal:subscription_count."""
    running = await server_factory(default_app_enable_subscription_count=True)
    url = f"{running.ws_url}/app/{KEY}?protocol=7"
    async with websockets.connect(url) as ws1, websockets.connect(url) as ws2:
        clients = []
        for ws in (ws1, ws2):
            established = orjson.loads(await ws.recv())
            client = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
            await client.subscribe("counted")
            clients.append(client)
        counted = await clients[0].expect("pusher_internal:subscription_count")
        assert counted["data"] == {"subscription_count": 2}
        await ws2.close()
        counted = await clients[0].expect("pusher_internal:subscription_count")
        assert counted["data"] == {"subscription_count": 1}


async def test_no_subscription_count_by_default(server_factory: ServerFactory) -> None:
    """Subscription counting is off unless the app enables it (as on Pusher)."""
    counted = {"id": "2", "key": "counted-key", "secret": "counted-secret"}
    running = await server_factory(
        apps=[
            {"id": APP_ID, "key": KEY, "secret": SECRET},
            {**counted, "enable_subscription_count": True},
        ]
    )
    async with (
        websockets.connect(f"{running.ws_url}/app/{KEY}?protocol=7") as ws,
        websockets.connect(f"{running.ws_url}/app/{counted['key']}?protocol=7") as clock_ws,
    ):
        established = orjson.loads(await ws.recv())
        client = PusherClient(ws, orjson.loads(established["data"])["socket_id"], {})
        await client.subscribe("uncounted")
        # The barrier's clock: an app with counting on, subscribed after the one without.
        # Its count goes out SUBSCRIPTION_COUNT_DELAY later; a count of the first app would
        # have been due before it.
        established = orjson.loads(await clock_ws.recv())
        clock = PusherClient(clock_ws, orjson.loads(established["data"])["socket_id"], {})
        await clock.subscribe("counted")
        tick = await clock.expect("pusher_internal:subscription_count")
        assert tick["data"] == {"subscription_count": 1}
        await nothing_before_barrier(running, client, "uncounted")


async def test_failed_signin_sends_one_error_then_closes_4009(connect: ConnectFn) -> None:
    """A refused pusher:signin gets exactly one pusher:error 4009, then close 4009."""
    client = await connect()
    await client.send("pusher:signin", {"auth": f"{KEY}:bad", "user_data": '{"id":"u1"}'})
    errors = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = await client.recv()
            if message["event"] == "pusher:error":
                errors.append(message["data"]["code"])
    assert errors == [4009]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009


async def test_websocket_ping_gets_a_pong_in_order(connect: ConnectFn) -> None:
    """A client's WebSocket ping is answered with a pong carrying its payload (through the
    same outbox as events, so it cannot overtake or split them)."""
    client = await connect()
    waiter = await client.ws.ping(b"are-you-there")
    await asyncio.wait_for(waiter, TIMEOUT)
    await client.send("pusher:ping", {})
    await client.expect("pusher:pong")
