"""redis-server for tests: the one launcher, the session's ``redis_url`` and key clean-up.

Redis tests use ``TIDINGS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``). When
nothing answers there, the session starts its own ``redis-server`` and stops it at the end.
When that is impossible too, every test that asked for ``redis_url`` FAILS with the reason:
Redis tests are never skipped.

redis-server cannot bind port 0 and report the port, so :class:`RedisServer` asks the OS
for a free port and, when another process took it in between (redis-server then exits
with "Address already in use"), tries another one: no race is left to chance.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

__all__ = [
    "DEFAULT_TEST_REDIS_URL",
    "SHARDS",
    "RedisServer",
    "delete_redis_keys",
    "redis_answers",
    "redis_cluster_url",
    "redis_shards_url",
    "redis_url",
]

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
_BIND_ATTEMPTS = 5


def redis_answers(url: str) -> str | None:
    """``None`` when ``url`` answers PING, else why not (any redis error, timeouts too)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def _os_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` child of this test, on 127.0.0.1; started by :meth:`start`.

    Args:
        args: extra redis-server arguments (``--requirepass``, ``--user``...). With
            ``tls=True`` the server listens with TLS only on :attr:`port` (the arguments
            must name the certificate files).
        client_options: redis-py options for :attr:`admin` and the readiness PING
            (``password``, ``ssl``...).
        db: the database number in :attr:`url`.

    ``kill()`` then ``start()`` restarts it on the same port (a Redis restart).
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        client_options: dict[str, Any] | None = None,
        tls: bool = False,
        db: int = 0,
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
        self.binary = binary
        self.args = list(args)
        self.tls = tls
        self.db = db
        self.client_options = dict(client_options or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        # redis-server logs to stdout; a file (not a pipe) can never fill up and block it.
        self._log = tempfile.TemporaryFile()
        self._admin: redis.Redis | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/{self.db}"

    @property
    def admin(self) -> redis.Redis:
        """A redis-py client that gets in (with ``client_options``)."""
        if self._admin is None:
            self._admin = redis.Redis(
                host="127.0.0.1", port=self.port, socket_timeout=2, **self.client_options
            )
        return self._admin

    def _command(self) -> list[str]:
        base = [self.binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.tls:
            return [*base, "--port", "0", "--tls-port", str(self.port), *self.args]
        return [*base, "--port", str(self.port), *self.args]

    def start(self) -> RedisServer:
        """Start it (on its previous port after a ``kill``) and wait until it answers PING.

        Raises:
            RuntimeError: it did not answer within the bound; the message has its output.
        """
        restart = self.port != 0
        for _ in range(1 if restart else _BIND_ATTEMPTS):
            if not restart:
                self.port = _os_port()
            self._log.seek(0)
            self._log.truncate()
            self.proc = subprocess.Popen(
                self._command(), stdout=self._log, stderr=subprocess.STDOUT
            )
            problem = self._wait_answering()
            if problem is None:
                return self
            if not restart and "Address already in use" in self.output():
                continue  # another process took the port in between: another one
            break
        self.kill()
        raise RuntimeError(
            f"redis-server on port {self.port} did not answer PING within {START_TIMEOUT} s "
            f"({problem}); output: {self.output()[-1500:]!r}"
        )

    def _ping(self) -> str | None:
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_connect_timeout=1,
            socket_timeout=2,
            **self.client_options,
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:  # TimeoutError included
            return f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
        return None

    def _wait_answering(self) -> str | None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        problem = self._ping()
        # PING is the only readiness signal redis-server gives; the wait is bounded.
        while problem is not None and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            problem = self._ping()
        return problem

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL (a crash) and reap; :meth:`start` brings it back on the same port."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()  # our own child, by its PID
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """SIGTERM, SIGKILL after a bound; then the log file is closed."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its PID
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self._log.close()


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
    problem = redis_answers(url)
    if problem is None:
        yield url
        return
    server: RedisServer | None = None
    failure = ""
    try:
        server = RedisServer(db=15).start()
    except (OSError, RuntimeError) as exc:
        failure = str(exc)
    if server is None:  # outside the except block, so the report is one clear line
        pytest.fail(
            f"Redis is needed: {url} did not answer PING ({problem}) and starting one failed: "
            f"{failure}. Start Redis or set TIDINGS_TEST_REDIS_URL.",
            pytrace=False,
        )
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test, started (``kill``/``start`` it at will)."""
    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


#: How many Redis servers the sharded-engine tests start (and masters the Cluster has).
SHARDS = 3


@pytest.fixture(scope="session")
def redis_shards_url() -> Iterator[str]:
    """A ``broker_url`` naming ``SHARDS`` redis-servers this session started (comma-separated).

    Fails (never skips) the requesting test when they cannot be started; they are
    stopped by PID at the end of the session.
    """
    servers: list[RedisServer] = []
    failure = ""
    try:
        for _ in range(SHARDS):
            servers.append(RedisServer(db=15).start())
    except (OSError, RuntimeError) as exc:
        failure = str(exc)
    try:
        if failure:
            pytest.fail(f"the sharded engine's tests need {SHARDS} redis-servers: {failure}")
        yield ",".join(server.url for server in servers)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A ``redis+cluster://`` URL of a Redis Cluster of ``SHARDS`` masters this session
    started (``--cluster-enabled yes`` on free ports, ``redis-cli --cluster create``; slots in
    equal ranges, in port order).

    Fails (never skips) the requesting test when it cannot be started; the servers are
    stopped by PID at the end of the session.
    """
    servers: list[RedisServer] = []
    workdir = tempfile.mkdtemp(prefix="tidings-test-cluster-")
    failure = ""
    try:
        for index in range(SHARDS):
            args = ["--cluster-enabled", "yes", "--cluster-port", str(_os_port())]
            args += ["--cluster-config-file", f"nodes-{index}.conf", "--dir", workdir]
            servers.append(RedisServer(args).start())
        _join_cluster(servers)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    try:
        if failure:
            pytest.fail(f"the Redis Cluster tests need a {SHARDS}-master cluster: {failure}")
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _join_cluster(servers: list[RedisServer]) -> None:
    """``redis-cli --cluster create`` over ``servers``, then wait until each sees state ok."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not on PATH (apt-get install redis-tools)")
    nodes = [f"127.0.0.1:{server.port}" for server in servers]
    subprocess.run(
        [cli, "--cluster", "create", *nodes, "--cluster-yes"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    deadline = time.monotonic() + 30  # gossip spreads the new slot map in a few seconds
    for server in servers:
        client = redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
        try:
            while client.cluster("info").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster node {server.port} never reached state ok")
                time.sleep(0.05)
        finally:
            client.close()
