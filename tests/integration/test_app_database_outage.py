"""An app database that is unreachable at start (refuse to start) or while running
(serve from memory, /ready stays 200, catch up when it returns)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
import pytest

from tests.integration.conftest import ServerFactory, eventually, signed_url
from tests.support.ports import closed_port
from tidings.apps.base import App
from tidings.apps.database import AppDatabase
from tidings.apps.manage import AppManager
from tidings.config import Settings
from tidings.errors import UnavailableError
from tidings.server.runner import RunningServer, start_server

pytestmark = pytest.mark.postgres


class TcpProxy:
    """A TCP relay on 127.0.0.1 to another port that this test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0  # the OS's pick at the first start; the same port afterwards
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones (the database 'goes away')."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy to the test's PostgreSQL database, and the database URL through it."""
    parts = urlsplit(postgres_url)
    relay = TcpProxy(parts.port or 5432)
    await relay.start()
    user = f"{parts.username}@" if parts.username else ""
    via = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{relay.port}"))
    try:
        yield relay, via
    finally:
        if relay._server is not None and relay._server.is_serving():
            await relay.stop()


async def status_of(server: RunningServer, app: App) -> int:
    """The status of a signed publish for ``app``."""
    body = orjson.dumps({"name": "e", "channels": ["c"], "data": "{}"})
    url = signed_url(
        server.http_url, "POST", f"/apps/{app.id}/events", body, key=app.key, secret=app.secret
    )
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as response:
        return response.status


async def test_an_outage_while_running_serves_from_memory_and_catches_up(
    server_factory: ServerFactory, postgres_url: str, proxy: tuple[TcpProxy, str]
) -> None:
    """Database gone: known apps keep working, /ready stays 200, admin writes answer 503;
    back: the apps created meanwhile are served."""
    relay, via = proxy
    direct = AppDatabase.open(postgres_url)
    try:
        settings = Settings.load()
        writer = AppManager(direct, settings.app_list(), settings.inherited())
        before = writer.create({"name": "before"})
        running = await server_factory(database_url=via, database_poll_interval=0.1)
        assert await status_of(running, before) == 200

        await relay.stop()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.http_url}/ready") as response:
                assert response.status == 200
            async with http.post(f"{running.admin_url}/api/apps", data=b"{}") as response:
                answer: dict[str, Any] = await response.json()
                assert response.status == 503 and "unreachable" in answer["error"]
        assert await status_of(running, before) == 200  # served from memory
        during = writer.create({"name": "during"})  # the database itself is up
        assert await status_of(running, during) == 404  # this node cannot see it yet

        await relay.start()

        async def caught_up() -> bool:
            return await status_of(running, during) == 200

        await eventually(caught_up, timeout=10)
    finally:
        direct.close()


async def test_an_unreachable_database_at_start_stops_the_server() -> None:
    """start_server raises UnavailableError naming the database (password masked)."""
    with closed_port() as port, pytest.raises(UnavailableError) as error:
        url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/nothing"
        await start_server(Settings.load(database_url=url, http_port=0))
    assert "unreachable" in error.value.message and "hunter2" not in error.value.message
    assert "database_url" in error.value.hint


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["apps", "list"]])
async def test_the_cli_exits_1_with_one_line(command: list[str]) -> None:
    """`tidings serve` and `tidings apps` print one error line and exit 1."""
    with closed_port() as port:
        env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/nothing",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tidings", *command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the app database"), lines
