"""Fixtures shared by every test folder: free ports, a Redis server, PostgreSQL databases.

Redis tests use ``TIDINGS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
When nothing answers there, the session starts its own ``redis-server`` on a
free port and stops it at the end. When that is impossible too, every test
that asked for ``redis_url`` FAILS with the reason: Redis tests are never
skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from tests.fixtures.postgres import postgres_server as postgres_server
from tests.fixtures.postgres import postgres_url as postgres_url

# Every server a test starts (in-process or as a subprocess) puts its admin
# listener on a free port, so tests never fight over 9601 with each other or
# with a `make run` on the same machine.
os.environ.setdefault("TIDINGS_ADMIN_PORT", "0")
# Likewise their app database is a scratch SQLite file of this session, never a
# tidings.sqlite3 in the working directory; tests of the app store use their own.
_APP_DB_DIR = tempfile.mkdtemp(prefix="tidings-test-apps-")
os.environ["TIDINGS_DATABASE_URL"] = f"sqlite:///{_APP_DB_DIR}/tidings.sqlite3"

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
_REDIS_START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_answers(url: str) -> str | None:
    """``None`` when ``url`` answers PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def _start_redis_server() -> tuple[subprocess.Popen[bytes], str]:
    """Start a throwaway ``redis-server``; return it and its URL, or raise RuntimeError."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH (install it: apt-get install redis-server)")
    port = free_port()
    # redis-server logs to stdout; a file (not a pipe) can never fill up and block it.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/15"
    deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
    problem = _redis_answers(url)
    # Polling is the only readiness signal redis-server gives; the wait is bounded.
    while problem is not None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        problem = _redis_answers(url)
    if problem is None:
        log.close()
        return proc, url
    proc.kill()
    proc.wait()
    log.seek(0)
    output = log.read().decode(errors="replace").strip()[-2000:]
    log.close()
    raise RuntimeError(
        f"started {binary} on port {port} but it did not answer PING ({problem}); "
        f"exit code {proc.returncode}, output: {output!r}"
    )


def delete_redis_keys(url: str, prefix: str) -> None:
    """Delete the keys under ``prefix:`` (a test's own prefix) from the Redis at ``url``."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL that answers PING: ``TIDINGS_TEST_REDIS_URL`` or a server started here.

    Fails (never skips) the requesting test when neither is possible.
    """
    url = os.environ.get("TIDINGS_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    problem = _redis_answers(url)
    if problem is None:
        yield url
        return
    try:
        proc, own_url = _start_redis_server()
    except (OSError, RuntimeError) as exc:
        failure = str(exc)
    else:
        failure = ""
    if failure:  # outside the except block, so the report is one clear line
        pytest.fail(
            f"Redis is needed: {url} did not answer PING ({problem}) and starting one failed: "
            f"{failure}. Start Redis or set TIDINGS_TEST_REDIS_URL.",
            pytrace=False,
        )
    try:
        yield own_url
    finally:
        proc.terminate()  # our own child, by its PID
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session", autouse=True)
def _remove_scratch_app_database() -> Iterator[None]:
    yield
    shutil.rmtree(_APP_DB_DIR, ignore_errors=True)
