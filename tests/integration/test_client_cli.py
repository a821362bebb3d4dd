"""``tidings.client`` and the ``trigger`` / ``auth`` / ``channels`` commands against a real server.

The CLI and the sync client block, so those tests run the server in a
background thread with its own event loop and use the sync WebSocket client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import APP_ID, KEY, SECRET, TIMEOUT, ConnectFn
from tidings.cli.main import app as cli
from tidings.client import (
    AsyncClient,
    AuthenticationError,
    ChannelInfo,
    Client,
    NotFoundError,
    RequestError,
    ServerUnreachable,
)
from tidings.config import Settings
from tidings.protocol.signing import channel_auth, user_auth
from tidings.server.runner import RunningServer, start_server


@pytest.fixture
def threaded_server() -> Iterator[RunningServer]:
    """A server on a free port, served by its own loop in a background thread."""
    with _threaded() as running:
        yield running


@contextmanager
def _threaded(**overrides: Any) -> Iterator[RunningServer]:
    loop = asyncio.new_event_loop()
    started: list[RunningServer] = []
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        settings = Settings.load(http_port=0, shutdown_grace_period=1.0, **overrides)
        started.append(loop.run_until_complete(start_server(settings)))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT), "server did not start"
    yield started[0]
    asyncio.run_coroutine_threadsafe(started[0].shutdown(), loop).result(TIMEOUT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(TIMEOUT)
    loop.close()


def run_cli(server: RunningServer, *args: str, **env: str) -> Result:
    """Run ``tidings ARGS`` with the server's port in the environment, as a user would."""
    environment = {"TIDINGS_HTTP_PORT": str(server.port), **env}
    return CliRunner().invoke(cli, list(args), env=environment)


@contextmanager
def ws_client(server: RunningServer) -> Iterator[tuple[ClientConnection, str]]:
    """A sync Pusher connection and its socket_id."""
    with connect(f"{server.ws_url}/app/{KEY}?protocol=7", open_timeout=TIMEOUT) as ws:
        established = orjson.loads(ws.recv(timeout=TIMEOUT))
        yield ws, orjson.loads(established["data"])["socket_id"]


def subscribe(ws: ClientConnection, data: dict[str, Any]) -> dict[str, Any]:
    ws.send(orjson.dumps({"event": "pusher:subscribe", "data": data}).decode())
    reply: dict[str, Any] = orjson.loads(ws.recv(timeout=TIMEOUT))
    return reply


def one_error_line(result: Result) -> str:
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- tidings trigger -----------------------------------------------------------------------


def test_cli_trigger_delivers(threaded_server: RunningServer) -> None:
    """`tidings trigger` reads the app from config and the subscriber sees the event."""
    with ws_client(threaded_server) as (ws, socket_id):
        subscribe(ws, {"channel": "news"})
        result = run_cli(threaded_server, "trigger", "news", "hello", '{"a": 1}')
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "triggered hello on news"
        event = orjson.loads(ws.recv(timeout=TIMEOUT))
        assert event["event"] == "hello" and orjson.loads(event["data"]) == {"a": 1}
        result = run_cli(threaded_server, "trigger", "news", "e", "--info", "subscription_count")
        assert orjson.loads(result.stdout) == {"channels": {"news": {"subscription_count": 1}}}


def test_cli_trigger_errors(threaded_server: RunningServer) -> None:
    """Bad channel, wrong secret, unknown app, no server: one `error:` line, exit 1."""
    line = one_error_line(run_cli(threaded_server, "trigger", "bad channel", "e"))
    assert "characters outside" in line and "channel names are" in line
    wrong = run_cli(threaded_server, "trigger", "c", "e", TIDINGS_DEFAULT_APP_SECRET="wrong")
    assert "Invalid signature" in one_error_line(wrong) and "the server signed" in wrong.stderr
    assert "known app ids: 1" in one_error_line(
        run_cli(threaded_server, "trigger", "c", "e", "--app", "9")
    )
    unreachable = run_cli(threaded_server, "trigger", "c", "e", "--url", "http://127.0.0.1:9")
    assert "cannot reach" in one_error_line(unreachable)


# -- tidings channels -----------------------------------------------------------------------


def test_cli_history() -> None:
    """`tidings history` prints serial, event and data per kept event; --json the reply."""
    with _threaded(default_app_history_channels=["chat-"]) as running:
        for n in range(3):
            assert run_cli(running, "trigger", "chat-1", "e", f'{{"n": {n}}}').exit_code == 0
        result = run_cli(running, "history", "chat-1", "--after", "1")
        assert result.exit_code == 0, result.stderr
        published = [orjson.dumps(f'{{"n": {n}}}').decode() for n in (1, 2)]
        assert result.stdout.splitlines() == [
            f"{n + 2} e {data}" for n, data in enumerate(published)
        ]
        assert "at serial 3" in result.stderr
        reply = orjson.loads(run_cli(running, "history", "chat-1", "--json").stdout)
        assert reply["serial"] == 3 and reply["complete"] and len(reply["events"]) == 3
        line = one_error_line(run_cli(running, "history", "news"))
        assert "keeps no history" in line


def test_cli_channels(threaded_server: RunningServer) -> None:
    """`tidings channels` lists occupied channels with counts; a refused info is one line."""
    with ws_client(threaded_server) as (ws, socket_id):
        subscribe(ws, {"channel": "alpha"})
        result = run_cli(threaded_server, "channels", "--info", "subscription_count")
        assert result.stdout.strip() == "alpha subscription_count=1"
        result = run_cli(threaded_server, "channels", "--prefix", "zzz")
        assert result.exit_code == 0 and "no occupied channels" in result.stderr
        line = one_error_line(run_cli(threaded_server, "channels", "--info", "user_count"))
        assert "add --prefix presence-" in line


# -- tidings auth -----------------------------------------------------------------------


def test_cli_auth_output_subscribes(threaded_server: RunningServer) -> None:
    """The printed auth (private) and JSON payload (presence) subscribe successfully."""
    with ws_client(threaded_server) as (ws, socket_id):
        result = run_cli(threaded_server, "auth", socket_id, "private-x")
        assert result.exit_code == 0, result.output
        auth = result.stdout.strip()
        reply = subscribe(ws, {"channel": "private-x", "auth": auth})
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        member = '{"user_id": "7", "user_info": {"name": "Ada"}}'
        result = run_cli(threaded_server, "auth", socket_id, "presence-x", "--user-data", member)
        payload = orjson.loads(result.stdout)
        assert payload["channel_data"] == member
        reply = subscribe(ws, {"channel": "presence-x", **payload})
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply


def test_cli_user_auth_signs_in(threaded_server: RunningServer) -> None:
    """`tidings auth --user JSON SOCKET_ID` prints an auth the server accepts for that text."""
    with ws_client(threaded_server) as (ws, socket_id):
        user_data = '{"id": "42", "user_info": {"name": "Ada"}}'
        result = run_cli(threaded_server, "auth", "--user", user_data, socket_id)
        assert result.exit_code == 0, result.output
        signin = {"auth": result.stdout.strip(), "user_data": user_data}
        ws.send(orjson.dumps({"event": "pusher:signin", "data": signin}).decode())
        reply = orjson.loads(ws.recv(timeout=TIMEOUT))
        assert reply["event"] == "pusher:signin_success", reply
        result = run_cli(threaded_server, "auth", "--json", "--user", user_data, socket_id)
        assert orjson.loads(result.stdout) == signin


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nope", "private-x"], "not like 123.456"),
        (["1.2", "public"], "needs no auth"),
        (["1.2", "presence-x"], "need --user-data"),
        (["1.2", "presence-x", "--user-data", "{"], "not valid JSON"),
        (["1.2", "presence-x", "--user-data", "{}"], '"user_id"'),
        (["1.2", "private-x", "--user-data", "{}"], "only for presence"),
        (["1.2", "bad name"], "characters outside"),
        (["1.2"], "give a CHANNEL, or --user"),
        (["1.2", "#server-to-user-1"], "needs no auth"),
        (["1.2", "--user", "{"], "--user is not valid JSON"),
        (["1.2", "--user", '{"name": "x"}'], 'with "id"'),
        (["1.2", "--user", '{"id": 7}'], "non-empty string"),
        (["1.2", "--user", '{"id": "a b"}'], "characters outside"),
        (["1.2", "private-x", "--user", '{"id": "1"}'], "give no CHANNEL"),
        (["x", "--user", '{"id": "1"}'], "not like 123.456"),
    ],
)
def test_cli_auth_errors(args: list[str], fragment: str) -> None:
    """Each bad input to `tidings auth` is one line saying what was wrong."""
    result = CliRunner().invoke(cli, ["auth", *args])
    assert fragment in one_error_line(result)


# -- tidings.client -----------------------------------------------------------------------


def test_sync_client(threaded_server: RunningServer) -> None:
    """Client: every method against a real server, and typed errors."""
    client = Client(APP_ID, KEY, SECRET, url=threaded_server.http_url)
    with ws_client(threaded_server) as (ws, socket_id):
        channel_data = '{"user_id": "ada"}'
        auth = channel_auth(KEY, SECRET, socket_id, "presence-r", channel_data)
        subscribe(ws, {"channel": "presence-r", "auth": auth, "channel_data": channel_data})
        reply = client.trigger("presence-r", "e", {"x": 1}, info=["user_count"])
        assert reply == {"presence-r": {"user_count": 1}}
        assert client.trigger_batch([{"channel": "a", "name": "e", "data": "d"}]) == []
        assert client.channels("presence-", ["user_count"]) == {"presence-r": {"user_count": 1}}
        assert client.channel("presence-r", ["subscription_count"]) == ChannelInfo(
            occupied=True, subscription_count=1
        )
        assert client.users("presence-r") == ["ada"]
    with pytest.raises(RequestError) as bad:
        client.users("not-presence")
    assert bad.value.status == 400
    with pytest.raises(AuthenticationError) as denied:
        Client(APP_ID, KEY, "wrong", url=threaded_server.http_url).trigger("c", "e", "d")
    assert "the server signed" in str(denied.value)
    with pytest.raises(ServerUnreachable):
        Client(APP_ID, KEY, SECRET, url="http://127.0.0.1:9", timeout=2).channels()


async def test_async_client(server: RunningServer, connect: ConnectFn) -> None:
    """AsyncClient: trigger with info, batch with info, terminate, 404 and 413 errors."""
    ws = await connect()
    user_data = '{"id": "ada"}'
    auth = user_auth(KEY, SECRET, ws.socket_id, user_data)
    await ws.send("pusher:signin", {"auth": auth, "user_data": user_data})
    await ws.expect("pusher:signin_success")
    await ws.subscribe("room")
    async with AsyncClient(APP_ID, KEY, SECRET, url=server.http_url) as client:
        reply = await client.trigger(["room"], "e", "d", info=["subscription_count"])
        assert reply == {"room": {"subscription_count": 1}}
        batch = [{"channel": "room", "name": "b", "data": {"n": 1}, "info": ["subscription_count"]}]
        assert await client.trigger_batch(batch) == [{"subscription_count": 1}]
        assert await client.channels() == {"room": {}}
        await client.terminate_user_connections("ada")
        assert (await ws.expect("pusher:error"))["data"]["code"] == 4009
        with pytest.raises(RequestError) as too_big:
            await client.trigger("room", "e", "x" * 200_000)
        assert too_big.value.status == 413
    async with AsyncClient("42", KEY, SECRET, url=server.http_url) as other:
        with pytest.raises(NotFoundError) as missing:
            await other.channels()
        assert "'42' does not exist" in str(missing.value)
        assert "known app ids" not in str(missing.value)  # no tenant enumeration
