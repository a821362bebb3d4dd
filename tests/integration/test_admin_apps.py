"""The admin API for apps (``/api/apps``) on a real server with a SQLite app database."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import websockets

from tests.fixtures.webhooks import Receiver, has
from tests.integration.conftest import TIMEOUT, ServerFactory, signed_url
from tidings.admin.app import build_admin_app
from tidings.apps.base import Role, app_fields
from tidings.server.runner import RunningServer

PASSWORD = "admin-pass-1"
BEARER = {"Authorization": f"Bearer {PASSWORD}"}


@pytest.fixture
async def admin(server_factory: ServerFactory, tmp_path: Path) -> RunningServer:
    """A server with its own SQLite app database and an admin password."""
    return await server_factory(
        database_url=f"sqlite:///{tmp_path}/apps.sqlite3", admin_password=PASSWORD
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    server: RunningServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    async with http.request(
        method,
        f"{server.admin_url}{path}",
        data=data,
        headers=BEARER if headers is None else headers,
    ) as response:
        text = await response.read()
        return response.status, orjson.loads(text) if text else None


async def publish_status(server: RunningServer, app: dict[str, Any], secret: str) -> int:
    body = orjson.dumps({"name": "e", "channels": ["c"], "data": "{}"})
    path = f"/apps/{app['id']}/events"
    url = signed_url(server.http_url, "POST", path, body, key=app["key"], secret=secret)
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status


async def test_auth_bearer_or_basic_with_the_password(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """No or wrong credentials: 401 JSON with a hint; Bearer and Basic (any user) pass."""
    status, body = await call(http, admin, "GET", "/api/apps", headers={})
    assert status == 401 and "Bearer" in body["hint"]
    wrong = {"Authorization": "Bearer nope"}
    assert (await call(http, admin, "GET", "/api/apps", headers=wrong))[0] == 401
    assert (await call(http, admin, "GET", "/api/apps"))[0] == 200
    basic = {"Authorization": "Basic " + base64.b64encode(f"any:{PASSWORD}".encode()).decode()}
    assert (await call(http, admin, "GET", "/api/apps", headers=basic))[0] == 200


async def test_without_a_password_only_loopback_clients_are_served(
    server_factory: ServerFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """No admin_password: a loopback client is served (the other half is a unit test below)."""
    running = await server_factory(database_url=f"sqlite:///{tmp_path}/a.sqlite3")
    assert (await call(http, running, "GET", "/api/apps", headers={}))[0] == 200


async def test_non_loopback_clients_are_refused_without_a_password(
    admin: RunningServer,
) -> None:
    """The middleware refuses a remote peer (403) when no password is set.

    Tests may only use 127.0.0.1, so the remote peer is aiohttp's mocked request."""
    from aiohttp.test_utils import make_mocked_request

    settings = admin.state.settings.model_copy(update={"admin_password": None})
    app = build_admin_app(dataclasses.replace(admin.state, settings=settings))
    app.freeze()  # installs the middlewares
    transport = _Transport(("203.0.113.9", 5000))
    request = make_mocked_request("GET", "/api/apps", app=app, transport=transport)
    response = await app._handle(request)
    assert response.status == 403
    assert b"admin_password" in response.body  # type: ignore[attr-defined]


class _Transport:
    def __init__(self, peer: tuple[str, int]) -> None:
        self._peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._peer if name == "peername" else default

    def is_closing(self) -> bool:
        return False


async def test_create_list_show_update_delete(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """The CRUD cycle; secrets only in create and show answers; the app serves at once."""
    status, app = await call(
        http, admin, "POST", "/api/apps", {"name": "shop", "max_batch_size": 4}
    )
    assert status == 201 and app["secret"] and app["source"] == "database"
    assert await publish_status(admin, app, app["secret"]) == 200  # this node: no wait
    status, listing = await call(http, admin, "GET", "/api/apps")
    assert status == 200
    assert [a["id"] for a in listing["apps"]] == ["1", app["id"]]
    assert all("secret" not in a for a in listing["apps"])
    assert listing["apps"][0]["read_only"] is True
    status, shown = await call(http, admin, "GET", f"/api/apps/{app['id']}")
    assert status == 200 and shown["secret"] == app["secret"]
    status, changed = await call(http, admin, "PATCH", f"/api/apps/{app['id']}", {"name": "s2"})
    assert status == 200 and changed["name"] == "s2" and "secret" not in changed
    assert changed["max_batch_size"] == 4
    status, _ = await call(http, admin, "DELETE", f"/api/apps/{app['id']}")
    assert status == 204
    assert (await call(http, admin, "GET", f"/api/apps/{app['id']}"))[0] == 404
    assert await publish_status(admin, app, app["secret"]) == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/api/apps", {"colour": "red"}, 400, "unknown field 'colour'"),
        ("POST", "/api/apps", {"max_connections": "many"}, 400, "invalid max_connections"),
        ("POST", "/api/apps", {"history_size": 5000}, 400, "invalid history_size"),
        ("POST", "/api/apps", [1, 2], 400, "JSON object"),
        ("POST", "/api/apps", {"id": "1"}, 409, "configuration"),
        ("POST", "/api/apps", {"key": "app-key"}, 409, "configuration"),
        ("PATCH", "/api/apps/1", {"name": "x"}, 409, "read-only"),
        ("DELETE", "/api/apps/1", None, 409, "read-only"),
        ("POST", "/api/apps/1/rotate-secret", None, 409, "read-only"),
        ("PATCH", "/api/apps/404", {"name": "x"}, 404, "no app has the id"),
        ("GET", "/api/apps/404", None, 404, "no app has the id"),
        ("POST", "/api/apps/1/rotate-secret", {"grace": "soon"}, 400, "invalid grace"),
        ("POST", "/api/apps/1/rotate-secret", {"graze": 1}, 400, "only have grace"),
    ],
)
async def test_bad_input_answers_json_errors(
    admin: RunningServer,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any,
    status: int,
    error: str,
) -> None:
    """Each bad request gets its status and {"error", "hint"}; nothing is created."""
    got, answer = await call(http, admin, method, path, body)
    assert got == status and error in answer["error"] and answer.get("hint")
    assert len((await call(http, admin, "GET", "/api/apps"))[1]["apps"]) == 1


async def test_malformed_json_is_a_400(admin: RunningServer, http: aiohttp.ClientSession) -> None:
    """A body that is not JSON: 400 with the parser's reason."""
    status, answer = await call(http, admin, "POST", "/api/apps", raw=b"{nope")
    assert status == 400 and "not valid JSON" in answer["error"]


async def test_duplicate_database_id_is_a_409(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """Creating the same id twice: 201 then 409."""
    assert (await call(http, admin, "POST", "/api/apps", {"id": "42"}))[0] == 201
    status, answer = await call(http, admin, "POST", "/api/apps", {"id": "42"})
    assert status == 409 and "42" in answer["error"]


async def test_rotation_with_grace_then_without(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """With grace both secrets sign; a rotation without grace stops the old one at once."""
    _, app = await call(http, admin, "POST", "/api/apps", {})
    status, graced = await call(
        http, admin, "POST", f"/api/apps/{app['id']}/rotate-secret", {"grace": 60}
    )
    assert status == 200 and graced["secret"] != app["secret"]
    assert graced["previous_secret_expires_at"] > 0
    assert await publish_status(admin, app, app["secret"]) == 200
    assert await publish_status(admin, app, graced["secret"]) == 200
    _, now = await call(http, admin, "POST", f"/api/apps/{app['id']}/rotate-secret")
    assert await publish_status(admin, app, graced["secret"]) == 401
    assert await publish_status(admin, app, now["secret"]) == 200


async def test_disable_closes_open_connections_with_4003(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """PATCH enabled=false: the app's open connections get pusher:error 4003 and close."""
    _, app = await call(http, admin, "POST", "/api/apps", {})
    async with websockets.connect(f"{admin.ws_url}/app/{app['key']}?protocol=7") as ws:
        await asyncio.wait_for(ws.recv(), TIMEOUT)  # connection_established
        status, _ = await call(http, admin, "PATCH", f"/api/apps/{app['id']}", {"enabled": False})
        assert status == 200
        error = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert error["event"] == "pusher:error" and error["data"]["code"] == 4003
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


async def test_openapi_describes_every_setting(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """/api/openapi.json lists the paths, and its create schema has every settable field."""
    status, document = await call(http, admin, "GET", "/api/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert {"/api/apps", "/api/apps/{app_id}", "/api/apps/{app_id}/rotate-secret"} <= set(
        document["paths"]
    )
    create = document["components"]["schemas"]["AppCreate"]["properties"]
    settable = {f.name for f in app_fields() if f.setting.role is not Role.INTERNAL}
    assert set(create) == settable


async def test_a_database_app_s_webhooks_are_delivered_signed_with_its_secret(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """Webhooks stored with the app (POST /api/apps) fire at once, signed with the app's
    secret (the receiver checks each POST with the PyPI SDK's validate_webhook)."""
    receiver = Receiver(key="hook-key", secret="hook-secret-0001")
    await receiver.start()
    try:
        body = {
            "key": "hook-key",
            "secret": "hook-secret-0001",
            "webhooks": [{"url": receiver.url(), "event_types": ["channel_occupied"]}],
        }
        status, app = await call(http, admin, "POST", "/api/apps", body)
        assert status == 201
        assert app["webhooks"][0]["url"] == receiver.url()
        async with websockets.connect(f"{admin.ws_url}/app/hook-key?protocol=7") as ws:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            subscribe = {"event": "pusher:subscribe", "data": {"channel": "news"}}
            await ws.send(orjson.dumps(subscribe).decode())
            events = await receiver.wait_for(has("channel_occupied", "news"))
        assert all(r.body is not None for r in receiver.received)  # validate_webhook: ok
        assert events == [{"name": "channel_occupied", "channel": "news"}]
    finally:
        await receiver.stop()


async def test_a_bad_webhook_is_refused_with_the_key_named(
    admin: RunningServer, http: aiohttp.ClientSession
) -> None:
    """A webhook that does not parse: 400 naming webhooks[0].url; nothing created."""
    status, answer = await call(http, admin, "POST", "/api/apps", {"webhooks": [{"url": "x"}]})
    assert status == 400 and "webhooks[0].url" in answer["error"]
    assert len((await call(http, admin, "GET", "/api/apps"))[1]["apps"]) == 1
