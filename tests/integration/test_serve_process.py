"""`tidings serve` as a user runs it: a real process, its banner, and SIGTERM draining."""

from __future__ import annotations

import asyncio
import re
import socket

import aiohttp
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import TIMEOUT
from tests.support.ports import closed_port
from tests.support.serve import ServeProcess, StartServe
from tidings.client import AsyncClient

_WS_LINE = re.compile(rb"WebSocket\s+(ws://127\.0\.0\.1:(\d+))/app/app-key")


@pytest.mark.parametrize("uvloop", ["false", "true"])
async def test_serve_prints_banner_and_drains_on_sigterm(serve: StartServe, uvloop: str) -> None:
    """The banner names the bound port; a published event arrives; SIGTERM sends 4200
    to clients and exits 0. On the stock asyncio loop and on uvloop."""
    env = {"TIDINGS_SHUTDOWN_GRACE_PERIOD": "2", "TIDINGS_UVLOOP": uvloop}
    proc = await serve(env)
    match = _WS_LINE.search(await proc.wait_for_line(b"WebSocket "))
    assert match is not None
    base = match.group(1).decode()
    assert int(match.group(2)) == proc.port  # the banner names the port it bound
    async with websockets.connect(f"{base}/app/app-key?protocol=7") as ws:
        established = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert established["event"] == "pusher:connection_established"
        await ws.send(
            orjson.dumps({"event": "pusher:subscribe", "data": {"channel": "news"}}).decode()
        )
        ok = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert ok["event"] == "pusher_internal:subscription_succeeded"
        http_url = base.replace("ws://", "http://")
        async with AsyncClient("1", "app-key", "app-secret", url=http_url) as client:
            await client.trigger("news", "headline", {"n": 1})
        event = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert (event["event"], orjson.loads(event["data"])) == ("headline", {"n": 1})
        proc.terminate()
        error = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == 4200
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4200
    assert await proc.wait(15) == 0


async def test_serve_rejects_bad_flag_with_one_line(serve: StartServe) -> None:
    """A bad flag value is one `error:` line and a non-zero exit, not a traceback."""
    proc = await serve(args=("--port", "99999"), ready=False, json_logs=False)
    assert await proc.wait(20) != 0
    stderr = b"".join(proc.stderr)
    assert b"Traceback" not in stderr
    assert b"error" in stderr.lower()


async def _banner(serve: StartServe, *args: str) -> tuple[ServeProcess, list[str]]:
    """Start `tidings serve --port 0 ARGS`; return it and its banner up to the Admin line."""
    proc = await serve(args=args)
    await proc.wait_for_line(b"  Admin ")
    lines: list[str] = []
    for raw in proc.stdout:
        if not raw.startswith(b"{"):  # skip JSON log lines
            lines.append(raw.decode().rstrip("\n"))
        if lines and lines[-1].lstrip().startswith("Admin"):
            break
    return proc, lines


async def test_unreachable_redis_is_named_in_the_banner_and_ready_is_503(
    serve: StartServe,
) -> None:
    """--broker at a port where nothing listens: the banner's first line says NOT ready with
    the URL and how to start Redis; /ready answers 503. --admin-port moves the admin listener
    (to a port the OS picks: the banner names it and the dashboard answers there)."""
    with closed_port() as redis_port:
        url = f"redis://127.0.0.1:{redis_port}/0"
        proc, lines = await _banner(serve, "--broker", url, "--admin-port", "0")
        assert lines[0].endswith(f"is running but NOT ready: Redis at {url} is unreachable")
        assert any(f"redis-server --port {redis_port}" in line for line in lines)
        admin = re.fullmatch(
            r"  Admin      (http://127\.0\.0\.1:(\d+))/   \(dashboard; Prometheus: /metrics\)",
            lines[-1],
        )
        assert admin is not None, lines[-1]
        assert int(admin.group(2)) not in (0, 9601, proc.port)
        match = next(m for line in lines if (m := _WS_LINE.search(line.encode())))
        http_url = match.group(1).decode().replace("ws://", "http://")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{http_url}/ready") as response:
                assert response.status == 503
                assert await response.json() == {"status": "broker unreachable"}
            async with session.get(f"{admin.group(1)}/") as response:
                assert response.status == 200  # the dashboard is on the banner's port


async def test_banner_hints_at_the_admin_password_without_printing_it(serve: StartServe) -> None:
    """TIDINGS_ADMIN_PASSWORD set: the dashboard URL, then how to sign in; the password is
    nowhere in what `tidings serve` prints, and the dashboard does ask for it."""
    env = {"TIDINGS_ADMIN_PASSWORD": "pw-not-to-print"}
    proc = await serve(env, args=("--admin-port", "0"))
    hint = await proc.wait_for_line(b"sign in with")
    text = [raw.decode().rstrip("\n") for raw in proc.stdout if not raw.startswith(b"{")]
    at = next(i for i, line in enumerate(text) if line.lstrip().startswith("Admin"))
    admin = re.fullmatch(
        r"  Admin      (http://127\.0\.0\.1:\d+)/   \(dashboard; Prometheus: /metrics\)", text[at]
    )
    assert admin is not None, text[at]
    assert text[at + 1] == hint.decode().rstrip("\n")
    assert text[at + 1].strip() == (
        "sign in with any user name and the admin password you set (admin_password)"
    )
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{admin.group(1)}/") as response:
            assert response.status == 401
        bearer = {"Authorization": "Bearer pw-not-to-print"}
        async with session.get(f"{admin.group(1)}/", headers=bearer) as response:
            assert response.status == 200
    assert await proc.stop() == 0
    assert "pw-not-to-print" not in proc.output()


async def test_busy_admin_port_is_said_in_words(serve: StartServe) -> None:
    """A second server whose admin port is taken still serves and says so in one clean line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _, lines = await _banner(serve, "--admin-port", str(port))
        assert lines[0].endswith(" is ready")
        assert lines[-1] == (
            f"  Admin      not started: 127.0.0.1:{port} is taken "
            "(another port: --admin-port N or TIDINGS_ADMIN_PORT)"
        )


async def test_busy_port_advice_names_flag_env_and_make(serve: StartServe) -> None:
    """A taken main port: one line naming --port, TIDINGS_HTTP_PORT and `make run PORT=`."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await serve(args=("--port", str(port)), ready=False, json_logs=False)
        assert await proc.wait(20) == 1
    stderr = b"".join(proc.stderr).decode()
    assert stderr.endswith("--port 6002, TIDINGS_HTTP_PORT=6002, or `make run PORT=6002`\n")
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
