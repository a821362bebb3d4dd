"""`tidings serve --workers N` as a user runs it: N processes answer on one port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import psutil
import pytest

from tests.conftest import delete_redis_keys, free_port
from tests.integration.conftest import KEY, SECRET, TIMEOUT, eventually

_START_S = 20.0  # two forked workers importing and connecting on a busy 2-core machine
_GRACE_S = 1.0  # TIDINGS_SHUTDOWN_GRACE_PERIOD of the servers under test
_CLIENTS = 20


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


async def test_memory_broker_refused_with_one_line_and_exit_2() -> None:
    """`--workers 2` with the default memory broker: one `error:` line, exit 2, nothing served."""
    proc = await _serve("--workers", "2", "--port", str(free_port()))
    stdout, stderr = await asyncio.wait_for(proc.communicate(), _START_S)
    assert proc.returncode == 2, stderr
    assert stderr.decode().strip() == (
        "error: --workers 2 needs a Redis broker (--broker redis://127.0.0.1:6379/0): "
        "the memory broker cannot share channels across processes"
    )
    assert stdout == b""


async def test_workers_env_var_is_read_too() -> None:
    """`TIDINGS_WORKERS=3` is the same as `--workers 3` (refused here: memory broker)."""
    proc = await _serve("--port", str(free_port()), env={"TIDINGS_WORKERS": "3"})
    _, stderr = await asyncio.wait_for(proc.communicate(), _START_S)
    assert proc.returncode == 2, stderr
    assert stderr.decode().startswith("error: --workers 3 needs a Redis broker")


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test; its keys are deleted afterwards (only ours)."""
    value = f"test-workers-{uuid.uuid4().hex[:12]}"
    yield value
    delete_redis_keys(redis_url, value)


def _env(prefix: str) -> dict[str, str]:
    return {
        "TIDINGS_NODE_ID": "w",
        "TIDINGS_REDIS_PREFIX": prefix,
        "TIDINGS_SHUTDOWN_GRACE_PERIOD": str(_GRACE_S),
        "TIDINGS_DEFAULT_APP_KEY": KEY,
        "TIDINGS_DEFAULT_APP_SECRET": SECRET,
        "TIDINGS_ADMIN_PORT": "0",
    }


async def _health(url: str) -> dict[str, Any] | None:
    """``/health`` over a fresh connection (so the kernel may pick another worker), or None."""
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                body: dict[str, Any] = await response.json()
                return body
    except (aiohttp.ClientError, TimeoutError):
        return None


async def _wait_ready(proc: asyncio.subprocess.Process, url: str) -> dict[str, Any]:
    """Poll ``/health`` until a worker answers with both workers as peers (bounded)."""
    deadline = time.monotonic() + _START_S
    while proc.returncode is None and time.monotonic() < deadline:
        body = await _health(url)
        if body is not None and set(body["peers"]) == {"w-w0", "w-w1"}:
            return body
        await asyncio.sleep(0.1)  # polling is the only readiness signal a port gives
    if proc.returncode is None:
        pytest.fail(f"no worker answered {url} with both peers within {_START_S}s")
    stderr = (await proc.communicate())[1].decode()
    pytest.fail(f"tidings serve --workers 2 exited {proc.returncode}: {stderr}")


def _kill_all(proc: asyncio.subprocess.Process, workers: list[psutil.Process]) -> None:
    # Our own processes, by PID: the workers first, or they would outlive the parent.
    for worker in workers:
        if worker.is_running():
            worker.kill()
    if proc.returncode is None:
        proc.kill()


async def test_two_workers_share_a_port_and_stop_on_sigterm(redis_url: str, prefix: str) -> None:
    """Two workers serve WebSockets on one port as two nodes; SIGTERM to the parent drains
    every client (4200), the parent exits 0 within the grace period and no worker survives."""
    port = free_port()
    proc = await _serve("--workers", "2", "--port", str(port), "--broker", redis_url,
                        env=_env(prefix))  # fmt: skip
    url = f"http://127.0.0.1:{port}/health"
    workers: list[psutil.Process] = []
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    try:
        await _wait_ready(proc, url)
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2 and all(w.is_running() for w in workers)

        async with aiohttp.ClientSession() as http:
            for _ in range(_CLIENTS):
                ws = await http.ws_connect(f"ws://127.0.0.1:{port}/app/{KEY}?protocol=7")
                sockets.append(ws)
                first = await ws.receive_json(timeout=TIMEOUT)
                assert first["event"] == "pusher:connection_established"

            # Fresh connections land on either worker (SO_REUSEPORT hashes the client
            # port); each answer says which node it is and how many sockets it holds.
            connections: dict[str, int] = {}
            for _ in range(40):
                body = await _health(url)
                assert body is not None and body["broker"] == "up"
                connections[body["node_id"]] = body["connections"]
                if len(connections) == 2:
                    break
            assert set(connections) <= {"w-w0", "w-w1"}
            if len(connections) == 2:
                assert sum(connections.values()) == _CLIENTS, connections
            else:  # the kernel kept picking one worker: both must still be serving
                assert all(w.is_running() for w in workers)

            proc.send_signal(signal.SIGTERM)
            for ws in sockets:  # every worker tells its clients to reconnect elsewhere
                message = await ws.receive(timeout=TIMEOUT + _GRACE_S)
                if message.type == aiohttp.WSMsgType.TEXT:  # pusher:error 4200 first
                    assert json.loads(message.data)["data"]["code"] == 4200
                    message = await ws.receive(timeout=TIMEOUT)
                assert message.type == aiohttp.WSMsgType.CLOSE
                assert message.data == 4200
            code = await asyncio.wait_for(proc.wait(), _GRACE_S + TIMEOUT)
        assert code == 0, (await proc.communicate())[1].decode()
        gone, alive = psutil.wait_procs(workers, timeout=TIMEOUT)
        assert alive == [] and len(gone) == 2
        assert await _health(url) is None  # nothing listens on the port any more
    finally:
        _kill_all(proc, workers)
        await proc.wait()


async def test_port_0_gives_every_worker_the_same_free_port(redis_url: str, prefix: str) -> None:
    """With `--port 0` the parent picks one free port for all workers (and logs it)."""
    proc = await _serve("--workers", "2", "--port", "0", "--broker", redis_url,
                        "--log-format", "json", env=_env(prefix))  # fmt: skip
    workers: list[psutil.Process] = []
    try:
        assert proc.stderr is not None
        port = 0
        while not port:  # the parent's first log line names the port
            line = await asyncio.wait_for(proc.stderr.readline(), _START_S)
            assert line, "tidings serve exited before logging `workers started`"
            record = json.loads(line)
            if record.get("event") == "workers started":
                port = int(record["port"])
        assert port > 0
        await _wait_ready(proc, f"http://127.0.0.1:{port}/health")
        workers = psutil.Process(proc.pid).children()

        async def both_listen() -> bool:
            # /health answered from one worker; the other may still be starting.
            listening = [
                w
                for w in workers
                if any(
                    c.status == psutil.CONN_LISTEN and c.laddr.port == port
                    for c in w.net_connections("tcp")
                )
            ]
            return len(listening) == 2

        await eventually(both_listen, _START_S)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), _GRACE_S + TIMEOUT) == 0
    finally:
        _kill_all(proc, workers)
        await proc.wait()


async def test_a_dead_worker_stops_the_group(redis_url: str, prefix: str) -> None:
    """`kill -9` of one worker: the parent logs it, stops the other and exits 1 (no respawn),
    so the supervisor restarts the whole service."""
    port = free_port()
    proc = await _serve("--workers", "2", "--port", str(port), "--broker", redis_url,
                        "--log-format", "json", env=_env(prefix))  # fmt: skip
    workers: list[psutil.Process] = []
    try:
        await _wait_ready(proc, f"http://127.0.0.1:{port}/health")
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2
        workers[1].kill()
        _, stderr = await asyncio.wait_for(proc.communicate(), _GRACE_S + TIMEOUT)
        assert proc.returncode == 1
        assert "worker exited; stopping the others" in stderr.decode()
        gone, alive = psutil.wait_procs(workers, timeout=TIMEOUT)
        assert alive == [] and len(gone) == 2
    finally:
        _kill_all(proc, workers)
        await proc.wait()
