"""The Pusher HTTP API end to end: every endpoint and every error path, on a real server."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import (
    APP_ID,
    KEY,
    SECRET,
    TIMEOUT,
    ConnectFn,
    PusherClient,
    ServerFactory,
    publish,
    signed_url,
)
from tidings.protocol.signing import user_auth
from tidings.server.runner import RunningServer


async def call(
    server: RunningServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    send_body: bytes | None = None,
    **sign: Any,
) -> tuple[int, Any]:
    """A signed API request; ``send_body`` replaces the body actually sent."""
    raw = orjson.dumps(body) if body is not None else b""
    url = signed_url(server.http_url, method, path, raw, **sign)
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, url, data=send_body if send_body is not None else raw or None
        ) as response:
            return response.status, await response.json(content_type=None)


async def assert_still_serving(server: RunningServer) -> None:
    """A good publish still succeeds."""
    assert await publish(server, ["after"], "ok", "{}") == (200, {})


async def presence(client: PusherClient, channel: str, user_id: str) -> None:
    data = orjson.dumps({"user_id": user_id}).decode()
    reply = await client.subscribe(channel, channel_data=data)
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply


async def sign_in(client: PusherClient, user_id: str) -> None:
    user_data = orjson.dumps({"id": user_id}).decode()
    auth = user_auth(KEY, SECRET, client.socket_id, user_data)
    await client.send("pusher:signin", {"auth": auth, "user_data": user_data})
    await client.expect("pusher:signin_success")


# -- events -----------------------------------------------------------------------------


async def test_trigger_with_info_returns_counts(server: RunningServer, connect: ConnectFn) -> None:
    """``info`` on a publish returns subscription_count, and user_count on presence channels."""
    a, b = await connect(), await connect()
    for client in (a, b):
        await client.subscribe("news")
    await presence(a, "presence-room", "u1")
    await presence(b, "presence-room", "u2")
    body = {
        "name": "hello",
        "channels": ["news", "presence-room"],
        "data": "{}",
        "info": "subscription_count,user_count",
    }
    status, reply = await call(server, "POST", f"/apps/{APP_ID}/events", body)
    assert status == 200
    assert reply == {
        "channels": {
            "news": {"subscription_count": 2},
            "presence-room": {"subscription_count": 2, "user_count": 2},
        }
    }
    assert (await a.expect("hello"))["channel"] == "news"


async def test_trigger_single_channel_field(server: RunningServer, connect: ConnectFn) -> None:
    """``channel`` (one name) is accepted as well as ``channels``."""
    client = await connect()
    await client.subscribe("solo")
    body = {"name": "e", "channel": "solo", "data": "x"}
    assert await call(server, "POST", f"/apps/{APP_ID}/events", body) == (200, {})
    assert (await client.expect("e"))["data"] == "x"


# -- batch_events ---------------------------------------------------------------------------


async def test_batch_events_deliver_with_socket_id_and_info(
    server: RunningServer, connect: ConnectFn
) -> None:
    """Each batch event goes to its channel, honours its socket_id and answers its info."""
    sender, other = await connect(), await connect()
    for client in (sender, other):
        await client.subscribe("one")
        await client.subscribe("two")
    batch = [
        {"channel": "one", "name": "first", "data": "1", "socket_id": sender.socket_id},
        {"channel": "two", "name": "second", "data": "2", "info": "subscription_count"},
    ]
    status, reply = await call(server, "POST", f"/apps/{APP_ID}/batch_events", {"batch": batch})
    assert status == 200
    assert reply == {"batch": [{}, {"subscription_count": 2}]}
    assert (await other.expect("first"))["data"] == 1
    assert (await other.expect("second"))["data"] == 2
    # The sender was excluded from "first": the next event it sees is "second".
    assert (await sender.recv())["event"] == "second"


async def test_batch_without_info_answers_empty(server: RunningServer) -> None:
    """No info asked: the reply is ``{}``."""
    batch = [{"channel": "x", "name": "e", "data": "d"}]
    assert await call(server, "POST", f"/apps/{APP_ID}/batch_events", {"batch": batch}) == (200, {})


async def test_batch_too_large_publishes_nothing(server: RunningServer, connect: ConnectFn) -> None:
    """11 events: 400 with a hint, and none of them is published."""
    client = await connect()
    await client.subscribe("many")
    batch = [{"channel": "many", "name": f"e{i}", "data": "d"} for i in range(11)]
    status, reply = await call(server, "POST", f"/apps/{APP_ID}/batch_events", {"batch": batch})
    assert status == 400
    assert "11 events" in reply["error"] and "split" in reply["hint"]
    await publish(server, ["many"], "marker", "{}")
    assert (await client.recv())["event"] == "marker"


async def test_batch_bad_event_names_its_index(server: RunningServer, connect: ConnectFn) -> None:
    """A bad event anywhere rejects the whole batch, naming the event."""
    client = await connect()
    await client.subscribe("ok")
    batch = [
        {"channel": "ok", "name": "fine", "data": "d"},
        {"channels": ["ok"], "name": "e", "data": "d"},
    ]
    status, reply = await call(server, "POST", f"/apps/{APP_ID}/batch_events", {"batch": batch})
    assert status == 400
    assert reply["error"].startswith("batch[1]:") and '"channel"' in reply["error"]
    await publish(server, ["ok"], "marker", "{}")
    assert (await client.recv())["event"] == "marker"


# -- channels / channel / users ---------------------------------------------------------------


async def test_channels_list_with_prefix_and_info(
    server: RunningServer, connect: ConnectFn
) -> None:
    """filter_by_prefix filters; user_count comes with a presence- filter; counts are right."""
    a, b = await connect(), await connect()
    await a.subscribe("public-1")
    await presence(a, "presence-lobby", "u1")
    await presence(b, "presence-lobby", "u1")
    path = f"/apps/{APP_ID}/channels"
    assert await call(server, "GET", path) == (
        200,
        {"channels": {"presence-lobby": {}, "public-1": {}}},
    )
    status, reply = await call(
        server,
        "GET",
        path,
        extra={"filter_by_prefix": "presence-", "info": "user_count,subscription_count"},
    )
    assert status == 200
    assert reply == {"channels": {"presence-lobby": {"user_count": 1, "subscription_count": 2}}}
    status, reply = await call(server, "GET", path, extra={"info": "subscription_count"})
    assert reply["channels"]["public-1"] == {"subscription_count": 1}


async def test_channels_user_count_needs_presence_filter(server: RunningServer) -> None:
    """info=user_count without filter_by_prefix=presence- is a 400 that says how to fix it."""
    path = f"/apps/{APP_ID}/channels"
    status, reply = await call(server, "GET", path, extra={"info": "user_count"})
    assert status == 400
    assert "filter_by_prefix=presence-" in reply["hint"]
    status, reply = await call(server, "GET", path, extra={"info": "nonsense"})
    assert status == 400 and "nonsense" in reply["error"]
    await assert_still_serving(server)


async def test_channel_info(server: RunningServer, connect: ConnectFn) -> None:
    """occupied, user_count (presence) and subscription_count of one channel."""
    a, b = await connect(), await connect()
    await presence(a, "presence-x", "u1")
    await presence(b, "presence-x", "u2")
    await a.subscribe("plain")
    info = {"info": "user_count,subscription_count"}
    assert await call(server, "GET", f"/apps/{APP_ID}/channels/presence-x", extra=info) == (
        200,
        {"occupied": True, "user_count": 2, "subscription_count": 2},
    )
    assert await call(
        server, "GET", f"/apps/{APP_ID}/channels/plain", extra={"info": "subscription_count"}
    ) == (200, {"occupied": True, "subscription_count": 1})
    assert await call(server, "GET", f"/apps/{APP_ID}/channels/empty") == (
        200,
        {"occupied": False},
    )


async def test_channel_info_errors(server: RunningServer) -> None:
    """user_count on a non-presence channel and a bad channel name are 400s."""
    status, reply = await call(
        server, "GET", f"/apps/{APP_ID}/channels/plain", extra={"info": "user_count"}
    )
    assert status == 400 and "presence" in reply["error"]
    status, reply = await call(server, "GET", f"/apps/{APP_ID}/channels/bad!name")
    assert status == 400 and "characters" in reply["error"]
    await assert_still_serving(server)


async def test_users(server: RunningServer, connect: ConnectFn) -> None:
    """The users of a presence channel; a non-presence channel is a 400."""
    a, b = await connect(), await connect()
    await presence(a, "presence-team", "ada")
    await presence(b, "presence-team", "bob")
    status, reply = await call(server, "GET", f"/apps/{APP_ID}/channels/presence-team/users")
    assert status == 200
    assert sorted(u["id"] for u in reply["users"]) == ["ada", "bob"]
    status, reply = await call(server, "GET", f"/apps/{APP_ID}/channels/private-x/users")
    assert status == 400 and "presence" in reply["error"]
    await assert_still_serving(server)


# -- terminate_connections ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/apps/{APP_ID}/users/ada/terminate_connections", None])
async def test_terminate_closes_signed_in_connections(
    server: RunningServer, connect: ConnectFn, path: str | None
) -> None:
    """Every connection signed in as the user gets 4009 and is closed; others stay."""
    first, second, bystander = await connect(), await connect(), await connect()
    await sign_in(first, "ada")
    await sign_in(second, "ada")
    await sign_in(bystander, "bob")
    # None: the app-less path the PyPI pusher 3.x library calls.
    path = path or "/users/ada/terminate_connections"
    assert await call(server, "POST", path, {}) == (200, {})
    for client in (first, second):
        error = await client.expect("pusher:error")
        assert error["data"]["code"] == 4009
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009
    await bystander.send("pusher:ping", {})
    await bystander.expect("pusher:pong")


# -- request signing --------------------------------------------------------------------------

EVENT = {"name": "e", "channels": ["c"], "data": "{}"}
EVENTS = f"/apps/{APP_ID}/events"
BATCH = f"/apps/{APP_ID}/batch_events"


@pytest.mark.parametrize(
    ("sign", "fragment"),
    [
        ({"key": "wrong-key"}, "auth_key 'wrong-key'"),
        ({"timestamp": int(time.time()) - 3600}, "auth_timestamp"),
        ({"secret": "wrong-secret"}, "Invalid signature"),
    ],
)
async def test_signature_failures(
    server: RunningServer, sign: dict[str, Any], fragment: str
) -> None:
    """Wrong key, stale timestamp, wrong secret: 401 naming what failed."""
    status, reply = await call(server, "POST", EVENTS, EVENT, **sign)
    assert status == 401
    assert fragment in reply["error"]
    await assert_still_serving(server)


async def test_bad_signature_shows_string_to_sign(server: RunningServer) -> None:
    """The hint shows the string the server signed, never the secret."""
    status, reply = await call(server, "POST", EVENTS, EVENT, secret="wrong-secret")
    assert status == 401
    assert "POST\\n/apps/1/events\\nauth_key=app-key&auth_timestamp=" in reply["hint"]
    assert SECRET not in orjson.dumps(reply).decode()


async def test_bad_body_md5(server: RunningServer) -> None:
    """A body that is not the one signed fails on body_md5."""
    tampered = orjson.dumps({**EVENT, "data": "other"})
    status, reply = await call(server, "POST", EVENTS, EVENT, send_body=tampered)
    assert status == 401 and "body_md5" in reply["error"]


@pytest.mark.parametrize(
    ("drop", "fragment"),
    [
        ("auth_key", "auth_key is missing"),
        ("auth_signature", "auth_signature is missing"),
        ("auth_timestamp", "auth_timestamp is missing"),
        ("auth_version", "auth_version"),
        ("body_md5", "body_md5 is missing"),
    ],
)
async def test_missing_parameters(server: RunningServer, drop: str, fragment: str) -> None:
    """Each missing auth parameter is named."""
    body = orjson.dumps(EVENT)
    url = signed_url(server.http_url, "POST", EVENTS, body)
    base, query = url.split("?", 1)
    kept = "&".join(p for p in query.split("&") if not p.startswith(drop + "="))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}?{kept}", data=body) as response:
            assert response.status == 401
            assert fragment in (await response.json())["error"]


async def test_unknown_app_names_no_other_app(server: RunningServer) -> None:
    """404 naming the id asked for, and no app that exists (tenant enumeration)."""
    status, reply = await call(server, "POST", "/apps/nope/events", EVENT)
    assert status == 404
    assert "'nope'" in reply["error"] and "tidings config show" in reply["hint"]
    assert "known app ids" not in reply["hint"] and APP_ID not in reply["hint"]


async def test_path_prefix_signatures(server_factory: ServerFactory) -> None:
    """With path_prefix, a signature over the prefixed path is accepted on both paths."""
    server = await server_factory(path_prefix="/realtime")
    body = orjson.dumps(EVENT)
    signed = signed_url("", "POST", f"/realtime{EVENTS}", body).split("?", 1)[1]
    async with aiohttp.ClientSession() as session:
        # A prefix-stripping proxy: the client signed /realtime/..., we get /apps/...
        async with session.post(f"{server.http_url}{EVENTS}?{signed}", data=body) as response:
            assert response.status == 200, await response.text()
        # A proxy that forwards the path as is: the routes are served under the prefix.
        url = f"{server.http_url}/realtime{EVENTS}?{signed}"
        async with session.post(url, data=body) as response:
            assert response.status == 200, await response.text()


async def test_prefixed_signature_refused_without_prefix_setting(server: RunningServer) -> None:
    """Without path_prefix configured, a prefixed signature shows the path the server signed."""
    body = orjson.dumps(EVENT)
    signed = signed_url("", "POST", f"/realtime{EVENTS}", body).split("?", 1)[1]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.http_url}{EVENTS}?{signed}", data=body) as response:
            assert response.status == 401
            assert "\\n/apps/1/events\\n" in (await response.json())["hint"]


# -- limits and bad bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "status", "fragment"),
    [
        ({**EVENT, "channels": [f"c{i}" for i in range(101)]}, 400, "101 channels"),
        ({**EVENT, "data": "x" * (100 * 1024 + 1)}, 413, "102401 bytes"),
        ({**EVENT, "channels": ["bad channel"]}, 400, "characters outside"),
        ({**EVENT, "channels": ["#server-to-user-"]}, 400, "#server-to-user-<user id>"),
        ({**EVENT, "channels": ["#server-to-user-a b"]}, 400, "#server-to-user-<user id>"),
        ({**EVENT, "channels": ["#tidings-users"]}, 400, "characters outside"),
        ({**EVENT, "channels": ["c" * 201]}, 400, "201 characters"),
        ({**EVENT, "name": "e" * 201}, 400, "event name is 201 characters"),
        ({**EVENT, "name": ""}, 400, "event name is missing"),
        ({**EVENT, "data": {"not": "a string"}}, 400, '"data" must be a string'),
        ({**EVENT, "channels": []}, 400, "non-empty list"),
        ({**EVENT, "socket_id": 5}, 400, "socket_id"),
        ({**EVENT, "info": "bogus"}, 400, "unknown info attribute"),
        ([1, 2], 400, "JSON object"),
    ],
)
async def test_event_limits(server: RunningServer, event: Any, status: int, fragment: str) -> None:
    """Each limit and bad field answers its status, says what was wrong and gives a hint."""
    got, reply = await call(server, "POST", EVENTS, event)
    assert got == status
    assert fragment in reply["error"]
    await assert_still_serving(server)


async def test_invalid_json_body(server: RunningServer) -> None:
    """A body that is not JSON is a 400 (signed correctly, so only the JSON is wrong)."""
    url = signed_url(server.http_url, "POST", EVENTS, b"{nope")
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=b"{nope") as response:
            assert response.status == 400
            assert "not valid JSON" in (await response.json())["error"]


async def test_oversize_body_is_json_413(server_factory: ServerFactory) -> None:
    """A body past the server's size cap: aiohttp's 413 comes out as JSON with a hint."""
    server = await server_factory(max_payload_bytes=1000, max_batch_size=1)
    body = b"x" * 200_000
    url = signed_url(server.http_url, "POST", EVENTS, body)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body) as response:
            assert response.status == 413
            reply = await response.json()
    assert "too large" in reply["error"] and reply["hint"]
    await assert_still_serving(server)


async def test_unknown_route_and_wrong_method_are_json(server: RunningServer) -> None:
    """404 and 405 from the router are JSON with a hint, not HTML."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.http_url}/apps/1/nothing-here") as response:
            assert response.status == 404
            reply = await response.json()
            assert "no such endpoint" in reply["error"] and "docs/http-api.md" in reply["hint"]
        async with session.get(f"{server.http_url}{EVENTS}") as response:
            assert response.status == 405
            assert "POST" in (await response.json())["hint"]
    await assert_still_serving(server)


async def test_publish_reaches_subscriber_within_timeout(
    server: RunningServer, connect: ConnectFn
) -> None:
    """A plain trigger answers {} and the subscriber sees the event."""
    client = await connect()
    await client.subscribe("plain")
    assert await publish(server, ["plain"], "e", '{"a":1}') == (200, {})
    assert (await client.expect("e", TIMEOUT))["data"] == {"a": 1}


# -- garbage ----------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)  # what the test's JSON encoder can write
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["e", "", "x" * 300]) | _json,
        "channel": st.sampled_from(["news", "#bad", "private-encrypted-a"]) | _json,
        "channels": st.lists(st.sampled_from(["a", "b", ""]) | _json, max_size=3) | _json,
        "data": st.sampled_from(['{"a":1}', ""]) | _json,
        "socket_id": st.sampled_from(["1.2", "x"]) | _json,
        "info": st.sampled_from(["user_count", "subscription_count,x"]) | _json,
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from([EVENTS, BATCH]),
    body=_json
    | _event_like
    | st.builds(lambda events: {"batch": events}, st.lists(_event_like | _json, max_size=3)),
)
async def test_signed_garbage_gets_a_json_4xx_never_a_5xx(
    server: RunningServer, path: str, body: Any
) -> None:
    """Correctly signed requests with any JSON body: 200 or a 4xx JSON error, never a 5xx."""
    status, reply = await call(server, "POST", path, body)
    assert status in (200, 400, 413), (status, reply)
    if status != 200:
        assert isinstance(reply["error"], str) and reply["error"]
    await assert_still_serving(server)
