"""`tidings serve --workers N` as a user runs it: N processes answer on one port."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import psutil
import pytest

from tests.integration.conftest import KEY, SECRET, TIMEOUT
from tests.support.redis import delete_redis_keys
from tests.support.serve import ServeProcess, StartServe
from tests.support.waiting import eventually

_START_S = 30.0  # two forked workers importing and connecting on a busy 2-core machine
_GRACE_S = 1.0  # TIDINGS_SHUTDOWN_GRACE_PERIOD of the servers under test
_STOP_S = 30.0  # the grace period plus three processes exiting, on a busy machine
_CLIENTS = 20


async def test_memory_broker_refused_with_one_line_and_exit_2(serve: StartServe) -> None:
    """`--workers 2` with the default memory broker: one `error:` line, exit 2, nothing served."""
    proc = await serve(args=("--workers", "2"), ready=False, json_logs=False)
    code = await proc.wait(_START_S)
    stderr = b"".join(proc.stderr).decode()
    assert code == 2, stderr
    assert stderr.strip() == (
        "error: --workers 2 needs a Redis broker (--broker redis://127.0.0.1:6379/0): "
        "the memory broker cannot share channels across processes"
    )
    assert proc.stdout == []


async def test_workers_env_var_is_read_too(serve: StartServe) -> None:
    """`TIDINGS_WORKERS=3` is the same as `--workers 3` (refused here: memory broker)."""
    proc = await serve({"TIDINGS_WORKERS": "3"}, ready=False, json_logs=False)
    code = await proc.wait(_START_S)
    stderr = b"".join(proc.stderr).decode()
    assert code == 2, stderr
    assert stderr.startswith("error: --workers 3 needs a Redis broker")


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


async def _two_workers(serve: StartServe, redis_url: str, prefix: str) -> ServeProcess:
    """`tidings serve --workers 2 --port 0` on ``redis_url``, once a worker answers
    ``/health`` with both workers as peers (bounded)."""
    proc = await serve(_env(prefix), ("--workers", "2", "--broker", redis_url))

    async def both_peers() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"tidings serve --workers 2 exited {proc.returncode}")
        body = await _health(f"{proc.http_url}/health")
        return body is not None and set(body["peers"]) == {"w-w0", "w-w1"}

    await eventually(both_peers, _START_S, "a worker sees both workers as peers")
    return proc


def _workers(proc: ServeProcess) -> list[psutil.Process]:
    workers: list[psutil.Process] = psutil.Process(proc.pid).children()
    assert len(workers) == 2 and all(w.is_running() for w in workers), workers
    return workers


def _sockets(worker: psutil.Process, port: int, status: str) -> int:
    """How many TCP sockets of ``worker`` on ``port`` are in ``status``."""
    return sum(
        1 for c in worker.net_connections("tcp") if c.status == status and c.laddr.port == port
    )


async def test_two_workers_share_a_port_and_stop_on_sigterm(
    serve: StartServe, redis_url: str, prefix: str
) -> None:
    """Two workers serve WebSockets on one port as two nodes, each holding some of the
    clients; SIGTERM to the parent drains every client (4200), the parent exits 0 and no
    worker survives."""
    proc = await _two_workers(serve, redis_url, prefix)
    url = f"{proc.http_url}/health"
    workers = _workers(proc)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(_CLIENTS):
            ws = await http.ws_connect(f"{proc.ws_url}/app/{KEY}?protocol=7")
            sockets.append(ws)
            first = await ws.receive_json(timeout=TIMEOUT)
            assert first["event"] == "pusher:connection_established"

        # Fresh connections land on either worker (SO_REUSEPORT hashes the client port);
        # each answer says which node it is and how many sockets it holds. Asked until
        # both answered (each try has an even chance): both serve, and hold them all.
        connections: dict[str, int] = {}

        async def both_answered() -> bool:
            body = await _health(url)
            assert body is not None and body["broker"] == "up"
            connections[body["node_id"]] = body["connections"]
            return len(connections) == 2

        await eventually(both_answered, _START_S, "/health answered by both workers")
        assert set(connections) == {"w-w0", "w-w1"}
        assert sum(connections.values()) == _CLIENTS, connections
        # The kernel spread the clients over both (all 20 on one: a 2**-19 chance).
        established = [_sockets(w, proc.port, psutil.CONN_ESTABLISHED) for w in workers]
        assert all(n > 0 for n in established) and sum(established) >= _CLIENTS, established

        proc.terminate()
        for ws in sockets:  # every worker tells its clients to reconnect elsewhere
            message = await ws.receive(timeout=_STOP_S)
            if message.type == aiohttp.WSMsgType.TEXT:  # pusher:error 4200 first
                assert json.loads(message.data)["data"]["code"] == 4200
                message = await ws.receive(timeout=_STOP_S)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert message.data == 4200
        code = await proc.wait(_STOP_S)
    assert code == 0, proc.output()
    gone, alive = psutil.wait_procs(workers, timeout=_STOP_S)
    assert alive == [] and len(gone) == 2
    assert await _health(url) is None  # nothing listens on the port any more


async def test_port_0_gives_every_worker_the_same_free_port(
    serve: StartServe, redis_url: str, prefix: str
) -> None:
    """With `--port 0` the parent picks one free port for all workers (and logs it)."""
    proc = await _two_workers(serve, redis_url, prefix)
    (started,) = [r for r in proc.records() if r.get("event") == "workers started"]
    assert started["port"] == proc.port > 0
    workers = _workers(proc)

    def both_listen() -> bool:
        # /health answered from one worker; the other may still be starting.
        return all(_sockets(w, proc.port, psutil.CONN_LISTEN) == 1 for w in workers)

    await eventually(both_listen, _START_S, "both workers listen on the logged port")
    assert await proc.stop(_STOP_S) == 0


async def test_a_dead_worker_stops_the_group(
    serve: StartServe, redis_url: str, prefix: str
) -> None:
    """`kill -9` of one worker: the parent logs it, stops the other and exits 1 (no respawn),
    so the supervisor restarts the whole service."""
    proc = await _two_workers(serve, redis_url, prefix)
    workers = _workers(proc)
    workers[1].kill()  # our own grandchild, by its PID
    assert await proc.wait(_STOP_S) == 1
    assert "worker exited; stopping the others" in proc.output()
    gone, alive = psutil.wait_procs(workers, timeout=_STOP_S)
    assert alive == [] and len(gone) == 2
