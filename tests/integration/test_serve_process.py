"""`tidings serve` as a user runs it: a real process, its banner, and SIGTERM draining."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import TIMEOUT
from tidings.client import AsyncClient

_WS_LINE = re.compile(rb"WebSocket\s+(ws://127\.0\.0\.1:(\d+))/app/app-key")


@pytest.mark.parametrize("uvloop", ["false", "true"])
async def test_serve_prints_banner_and_drains_on_sigterm(uvloop: str) -> None:
    """The banner names the bound port; a published event arrives; SIGTERM sends 4200
    to clients and exits 0. On the stock asyncio loop and on uvloop."""
    env = {**os.environ, "TIDINGS_SHUTDOWN_GRACE_PERIOD": "2", "TIDINGS_UVLOOP": uvloop}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings",
        "serve",
        "--port",
        "0",
        "--log-format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    assert proc.stdout is not None
    try:
        base = None
        output = b""
        while base is None:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, f"tidings serve exited early: {output.decode()}"
            output += line
            match = _WS_LINE.search(line)
            if match:
                base = match.group(1).decode()
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
            proc.send_signal(signal.SIGTERM)
            error = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert error["event"] == "pusher:error"
            assert error["data"]["code"] == 4200
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4200
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_rejects_bad_flag_with_one_line() -> None:
    """A bad flag value is one `error:` line and a non-zero exit, not a traceback."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings",
        "serve",
        "--port",
        "99999",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0
    assert b"Traceback" not in stderr
    assert b"error" in stderr.lower()
