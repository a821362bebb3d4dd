"""The official PyPI ``pusher`` library against a real tidings server.

The library is synchronous (requests), while the server runs in the test's
event loop, so every library call runs in a thread via ``asyncio.to_thread``.

The publishing and querying calls also run with channel history on for every channel
(``HISTORY_OFF_ON``): their answers must not change, and the history endpoint answers a
request the SDK signs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pusher
import pusher.errors
import pusher.http
import pytest

from tests.conformance.conftest import HISTORY_OFF_ON, history_settings
from tests.support.pusher import OpenClient, PusherClient
from tidings.client import Client
from tidings.config import Settings
from tidings.protocol.signing import user_auth
from tidings.server.runner import RunningServer, start_server

APP_ID, KEY, SECRET = "1", "app-key", "app-secret"


@pytest.fixture
async def server(history: bool) -> AsyncIterator[RunningServer]:
    """A default server on a free port (keeping history of every channel with ``history``)."""
    settings = Settings.load(http_port=0, shutdown_grace_period=1.0, **history_settings(history))
    running = await start_server(settings)
    yield running
    await running.shutdown()


@pytest.fixture
def sdk(server: RunningServer) -> Any:
    """``pusher.Pusher`` pointed at the server, as the banner tells users to configure it."""
    return pusher.Pusher(
        app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=server.port, ssl=False
    )


async def join(sdk: Any, client: PusherClient, channel: str, user_id: str | None = None) -> None:
    """Subscribe with an auth made by ``pusher.authenticate`` (public channels need none)."""
    auth: dict[str, Any] = {}
    if channel.startswith(("private-", "presence-")):
        custom = {"user_id": user_id, "user_info": {"name": user_id}} if user_id else None
        auth = await asyncio.to_thread(
            sdk.authenticate, channel=channel, socket_id=client.socket_id, custom_data=custom
        )
    reply = await client.subscribe(
        channel, auth=auth.get("auth"), channel_data=auth.get("channel_data")
    )
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply


def assert_position(event: dict[str, Any], history: bool) -> None:
    """An event frame carries ``serial`` and ``stream_id`` exactly when history is on."""
    assert ("serial" in event, "stream_id" in event) == (history, history), event


@HISTORY_OFF_ON
async def test_trigger_reaches_subscriber(
    server: RunningServer, sdk: Any, open_client: OpenClient, history: bool
) -> None:
    """``trigger`` publishes; a subscriber sees the event; ``socket_id`` excludes the sender."""
    sender, other = await open_client(server), await open_client(server)
    for client in (sender, other):
        await join(sdk, client, "orders")
    reply = await asyncio.to_thread(sdk.trigger, "orders", "created", {"id": 7})
    assert reply == {}
    for client in (sender, other):
        created = await client.expect("created")
        assert created["data"] == {"id": 7}
        assert_position(created, history)
    await asyncio.to_thread(sdk.trigger, ["orders"], "excluded", "x", sender.socket_id)
    await asyncio.to_thread(sdk.trigger, ["orders"], "marker", "m")
    assert (await other.expect("excluded"))["data"] == "x"
    assert (await sender.recv())["event"] == "marker"


@HISTORY_OFF_ON
async def test_trigger_batch(
    server: RunningServer, sdk: Any, open_client: OpenClient, history: bool
) -> None:
    """``trigger_batch`` delivers every event to its channel."""
    client = await open_client(server)
    await join(sdk, client, "a")
    await join(sdk, client, "private-b")
    batch = [
        {"channel": "a", "name": "one", "data": {"n": 1}},
        {"channel": "private-b", "name": "two", "data": {"n": 2}},
    ]
    assert await asyncio.to_thread(sdk.trigger_batch, batch) == {}
    one = await client.expect("one")
    assert one["data"] == {"n": 1}
    two = await client.expect("two")
    assert (two["channel"], two["data"]) == ("private-b", {"n": 2})
    for event in (one, two):
        assert_position(event, history)


@HISTORY_OFF_ON
async def test_channels_info_channel_info_users_info(
    server: RunningServer, sdk: Any, open_client: OpenClient, history: bool
) -> None:
    """Querying state: channels_info with prefix and info, channel_info, users_info."""
    a, b = await open_client(server), await open_client(server)
    await join(sdk, a, "presence-room", "ada")
    await join(sdk, b, "presence-room", "bob")
    await join(sdk, a, "news")
    # Something published on each (with history: each channel has a stream to describe).
    await asyncio.to_thread(sdk.trigger, ["presence-room", "news"], "said", "hi")
    for client, channel in ((b, "presence-room"), (a, "presence-room"), (a, "news")):
        said = await client.expect("said")
        assert said["channel"] == channel
        assert_position(said, history)
    everything = await asyncio.to_thread(sdk.channels_info)
    assert everything == {"channels": {"news": {}, "presence-room": {}}}
    presence = await asyncio.to_thread(sdk.channels_info, "presence-", ["user_count"])
    assert presence == {"channels": {"presence-room": {"user_count": 2}}}
    info = await asyncio.to_thread(
        sdk.channel_info, "presence-room", ["user_count", "subscription_count"]
    )
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}
    assert await asyncio.to_thread(sdk.channel_info, "vacant") == {"occupied": False}
    users = await asyncio.to_thread(sdk.users_info, "presence-room")
    assert sorted(u["id"] for u in users["users"]) == ["ada", "bob"]


@HISTORY_OFF_ON
async def test_channel_info_cache_of_a_cache_channel(
    server: RunningServer, sdk: Any, open_client: OpenClient, history: bool
) -> None:
    """``channel_info`` with ``info=cache``: the cache channel's last event, history or not;
    a later subscriber still gets it first."""
    first = await open_client(server)
    await join(sdk, first, "cache-prices")
    await asyncio.to_thread(sdk.trigger, "cache-prices", "price", {"eur": 3})
    assert_position(await first.expect("price"), history)
    info = await asyncio.to_thread(
        sdk.channel_info, "cache-prices", ["cache", "subscription_count"]
    )
    cache = info.pop("cache")
    assert cache["data"] == '{"eur": 3}' and cache["ttl"] > 0, cache  # the data as published
    assert info == {"occupied": True, "subscription_count": 1}
    later = await open_client(server)
    await join(sdk, later, "cache-prices")
    cached = await later.recv()
    assert (cached["event"], cached["data"]) == ("price", {"eur": 3}), cached


def sdk_get(sdk: Any, path: str, params: dict[str, str]) -> Any:
    """GET ``path`` signed and sent by the SDK itself (as its own query methods do)."""
    client = sdk._pusher_client  # the SDK's request plumbing: no public call for new endpoints
    return client.http.send_request(pusher.http.Request(client, pusher.http.GET, path, params))


@HISTORY_OFF_ON
async def test_history_endpoint_answers_the_sdk(
    server: RunningServer, sdk: Any, open_client: OpenClient, history: bool
) -> None:
    """``GET .../history`` signed by the SDK: the kept events with the frames' positions;
    without history, a 404 the SDK reports with the hint."""
    client = await open_client(server)
    await join(sdk, client, "chat")
    frames = []
    for n in (1, 2):
        await asyncio.to_thread(sdk.trigger, "chat", "msg", {"n": n})
        frames.append(await client.expect("msg"))
    path = f"/apps/{APP_ID}/channels/chat/history"
    if not history:
        with pytest.raises(pusher.errors.PusherBadStatus) as caught:
            await asyncio.to_thread(sdk_get, sdk, path, {})
        assert str(caught.value).startswith("404") and "history_channels" in str(caught.value)
        return
    everything = await asyncio.to_thread(sdk_get, sdk, path, {})
    stream_id = frames[0]["stream_id"]
    assert [frame["serial"] for frame in frames] == [1, 2]
    assert (everything["stream_id"], everything["serial"]) == (stream_id, 2)
    assert everything["complete"] is True
    kept = [(e["serial"], e["event"], orjson.loads(e["data"])) for e in everything["events"]]
    assert kept == [(1, "msg", {"n": 1}), (2, "msg", {"n": 2})]
    after = await asyncio.to_thread(sdk_get, sdk, path, {"after_serial": "1", "limit": "1"})
    assert [e["serial"] for e in after["events"]] == [2]


async def test_authenticate_presence_sees_members(
    server: RunningServer, sdk: Any, open_client: OpenClient
) -> None:
    """``authenticate`` with custom_data: the subscription succeeds with the member list."""
    client = await open_client(server)
    auth = await asyncio.to_thread(
        sdk.authenticate,
        channel="presence-chat",
        socket_id=client.socket_id,
        custom_data={"user_id": "7", "user_info": {"name": "Ada"}},
    )
    reply = await client.subscribe("presence-chat", **auth)
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    assert reply["data"]["presence"]["hash"] == {"7": {"name": "Ada"}}


async def test_terminate_user_connections(
    server: RunningServer, sdk: Any, open_client: OpenClient
) -> None:
    """``terminate_user_connections`` closes the signed-in user's connection with 4009."""
    client = await open_client(server)
    user_data = orjson.dumps({"id": "ada"}).decode()
    auth = user_auth(KEY, SECRET, client.socket_id, user_data)
    await client.send("pusher:signin", {"auth": auth, "user_data": user_data})
    await client.expect("pusher:signin_success")
    assert await asyncio.to_thread(sdk.terminate_user_connections, "ada") == {}
    assert (await client.expect("pusher:error"))["data"]["code"] == 4009


async def test_wrong_secret_error_is_readable(server: RunningServer) -> None:
    """A wrong secret raises PusherBadAuth whose message shows the string the server signed."""
    wrong = pusher.Pusher(
        app_id=APP_ID, key=KEY, secret="not-the-secret", host="127.0.0.1", port=server.port,
        ssl=False,
    )  # fmt: skip
    with pytest.raises(pusher.errors.PusherBadAuth) as caught:
        await asyncio.to_thread(wrong.trigger, "c", "e", "d")
    message = str(caught.value)
    assert "Invalid signature" in message
    assert "the server signed" in message and "/apps/1/events" in message


async def test_bad_request_error_is_readable(sdk: Any) -> None:
    """A refused query raises PusherBadRequest carrying the hint."""
    with pytest.raises(pusher.errors.PusherBadRequest) as caught:
        await asyncio.to_thread(sdk.channels_info, None, ["user_count"])
    assert "filter_by_prefix=presence-" in str(caught.value)


async def sign_in(sdk: Any, client: PusherClient, user_data: dict[str, Any]) -> None:
    """``pusher:signin`` with what ``authenticate_user`` returns, then the user's channel."""
    answer = await asyncio.to_thread(sdk.authenticate_user, client.socket_id, user_data)
    await client.send("pusher:signin", answer)
    success = await client.expect("pusher:signin_success")
    assert success["data"]["user_data"] == answer["user_data"]
    reply = await client.subscribe(f"#server-to-user-{user_data['id']}", auth="")
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply


async def test_send_to_user_reaches_the_signed_in_user(
    server: RunningServer, sdk: Any, open_client: OpenClient
) -> None:
    """``authenticate_user`` signs in; ``send_to_user`` reaches that user's connection only."""
    ada = await open_client(server)
    bob = await open_client(server)
    await sign_in(sdk, ada, {"id": "ada", "user_info": {"name": "Ada"}})
    await sign_in(sdk, bob, {"id": "bob"})
    assert await asyncio.to_thread(sdk.send_to_user, "ada", "note", {"n": 1}) == {}
    got = await ada.expect("note")
    assert got["channel"] == "#server-to-user-ada"
    assert got["data"] == {"n": 1}
    await asyncio.to_thread(sdk.send_to_user, "bob", "marker", {})
    assert (await bob.recv())["event"] == "marker"  # the first thing bob gets: not "note"


async def test_another_users_channel_is_refused(
    server: RunningServer, sdk: Any, open_client: OpenClient
) -> None:
    """Subscribing to someone else's #server-to-user channel: subscription_error, still open."""
    client = await open_client(server)
    await sign_in(sdk, client, {"id": "ada"})
    reply = await client.subscribe("#server-to-user-bob", auth="")
    assert reply["event"] == "pusher:subscription_error"
    error = reply["data"]
    assert (error["type"], error["status"]) == ("AuthError", 403)
    assert "belongs to another user" in error["error"]
    await client.send("pusher:ping", {})
    assert (await client.expect("pusher:pong"))["event"] == "pusher:pong"


def test_tidings_client_auth_matches_the_sdk(sdk: Any) -> None:
    """``tidings.client`` computes the same auth answers as the PyPI SDK, byte for byte."""
    client = Client(APP_ID, KEY, SECRET)
    user = {"id": "ada", "user_info": {"name": "Ada Lovelace"}, "watchlist": ["bob"]}
    assert client.authenticate_user("1.2", user) == sdk.authenticate_user("1.2", user)
    assert client.authorize_channel("1.2", "private-x") == sdk.authenticate("private-x", "1.2")
    member = {"user_id": "7", "user_info": {"name": "Ada"}}
    assert client.authorize_channel("1.2", "presence-x", member) == sdk.authenticate(
        "presence-x", "1.2", member
    )
