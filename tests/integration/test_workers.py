"""`tidings serve --workers N` as a user runs it: N processes answer on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator

import aiohttp
import psutil
import pytest
import redis

from tests.conftest import free_port
from tests.integration.conftest import TIMEOUT

_START_S = 20.0  # two interpreters importing tidings on a busy 2-core machine


async def _serve(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidings",
        "serve",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--workers", "2", "--port", "6001"],
            "error: --workers 2 needs a Redis broker (--broker redis://127.0.0.1:6379/0): "
            "memory brokers cannot share state across processes",
        ),
        (
            ["--workers", "2", "--port", "0", "--broker", "redis://127.0.0.1:6379/0"],
            "error: --workers 2 needs a fixed port: with port 0 each worker would listen on its "
            "own; pass --port 6001 (or any free port)",
        ),
    ],
)
async def test_workers_refused_with_one_line_and_exit_2(args: list[str], message: str) -> None:
    """Worker settings that cannot work: exactly one `error:` line, exit code 2, nothing bound."""
    proc = await _serve(*args)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), _START_S)
    assert proc.returncode == 2, stderr
    assert stderr.decode().strip() == message
    assert stdout == b""


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test; its keys are deleted afterwards (only ours)."""
    value = f"test-workers-{uuid.uuid4().hex[:12]}"
    yield value
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{value}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _health(url: str) -> dict[str, object] | None:
    """``/health`` over a fresh connection (so the kernel may pick another worker), or None."""
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                body: dict[str, object] = await response.json()
                return body
    except (aiohttp.ClientError, TimeoutError):
        return None


async def test_two_workers_answer_on_one_port_and_stop_on_sigterm(
    redis_url: str, prefix: str
) -> None:
    """Both workers answer on the port with their own node ids, see each other as peers
    through heartbeats, and SIGTERM to the parent stops both (exit 0, port closed)."""
    port = free_port()
    proc = await _serve(
        "--workers",
        "2",
        "--port",
        str(port),
        "--broker",
        redis_url,
        "--log-format",
        "json",
        env={
            "TIDINGS_NODE_ID": "w",
            "TIDINGS_REDIS_PREFIX": prefix,
            "TIDINGS_SHUTDOWN_GRACE_PERIOD": "1",
        },
    )
    url = f"http://127.0.0.1:{port}/health"
    try:
        seen: set[str] = set()
        peers: set[str] = set()
        deadline = time.monotonic() + _START_S
        # The kernel spreads new connections over the workers by a hash of the
        # client's port: a handful of fresh connections reach both.
        while (seen != {"w-0", "w-1"} or peers != {"w-0", "w-1"}) and proc.returncode is None:
            if time.monotonic() > deadline:
                pytest.fail(f"within {_START_S}s saw node ids {seen} and peers {peers}")
            body = await _health(url)
            if body is None:
                await asyncio.sleep(0.1)  # not listening yet: the only readiness signal
                continue
            seen.add(str(body["node_id"]))
            peers = {str(p) for p in body["peers"]}  # type: ignore[attr-defined]
            assert body["broker"] == "up"
        assert proc.returncode is None, (await proc.communicate())[1].decode()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT + 10) == 0
        assert await _health(url) is None  # both workers are gone
    finally:
        if proc.returncode is None:
            # Our own processes, by PID: the workers first, or they would outlive the parent.
            for child in psutil.Process(proc.pid).children():
                child.kill()
            proc.kill()
            await proc.wait()
