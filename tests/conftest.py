"""Fixtures shared by every test folder (defined in :mod:`tests.support`), and the
end-of-run report of measured durations.

Redis tests use ``TIDINGS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); when
nothing answers there the session starts its own ``redis-server`` (never skipped).
PostgreSQL and MySQL tests likewise (``TIDINGS_TEST_POSTGRES_URL``,
``TIDINGS_TEST_MYSQL_URL``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import clean_env as clean_env
from tests.support.mysql import mysql_server as mysql_server
from tests.support.mysql import mysql_url as mysql_url
from tests.support.postgres import postgres_server as postgres_server
from tests.support.postgres import postgres_url as postgres_url
from tests.support.redis import delete_redis_keys as delete_redis_keys
from tests.support.redis import own_redis as own_redis
from tests.support.redis import redis_url as redis_url
from tests.support.serve import serve as serve
from tests.support.timing import MEASURED

# Every server a test starts (in-process or as a subprocess) puts its admin
# listener on a free port, so tests never fight over 9601 with each other or
# with a `make run` on the same machine.
os.environ.setdefault("TIDINGS_ADMIN_PORT", "0")
# Likewise their app database is a scratch SQLite file, never a tidings.sqlite3 in the
# working directory: one per test (``_fresh_app_database``); app-store tests use their own.
_APP_DB_DIR = tempfile.mkdtemp(prefix="tidings-test-apps-")
os.environ["TIDINGS_DATABASE_URL"] = f"sqlite:///{_APP_DB_DIR}/tidings.sqlite3"


_APP_DB_TEMPLATE = Path(_APP_DB_DIR) / "template.sqlite3"
_app_db_numbers = itertools.count()


#: How many Redis servers the sharded-engine tests start.
SHARDS = 3


@pytest.fixture(scope="session")
def redis_shards_url() -> Iterator[str]:
    """A ``broker_url`` naming ``SHARDS`` redis-servers this session started (comma-separated).

    Fails (never skips) the requesting test when they cannot be started; they
    are stopped by PID at the end of the session.
    """
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    failure = ""
    try:
        for _ in range(SHARDS):
            proc, url = _start_redis_server()
            procs.append(proc)
            urls.append(url)
    except (OSError, RuntimeError) as exc:
        failure = str(exc)
    try:
        if failure:
            pytest.fail(f"the sharded engine's tests need {SHARDS} redis-servers: {failure}")
        yield ",".join(urls)
    finally:
        for proc in procs:
            stop_process(proc)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A ``redis+cluster://`` URL of a Redis Cluster of 3 masters this session started
    (``--cluster-enabled yes`` on free ports, ``redis-cli --cluster create``).

    Fails (never skips) the requesting test when it cannot be started; the servers
    are stopped by PID at the end of the session.
    """
    procs: list[subprocess.Popen[bytes]] = []
    workdir = tempfile.mkdtemp(prefix="tidings-test-cluster-")
    try:
        try:
            ports = _start_redis_cluster(procs, workdir)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            failure = str(exc)
        else:
            failure = ""
        if failure:
            pytest.fail(f"the Redis Cluster tests need a 3-master cluster: {failure}")
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
    finally:
        for proc in procs:
            stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _start_redis_cluster(procs: list[subprocess.Popen[bytes]], workdir: str) -> list[int]:
    """Start 3 cluster-enabled redis-servers (appended to ``procs``), join them, wait for ok."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise RuntimeError("redis-server and redis-cli must be on PATH (apt-get install redis)")
    ports = []
    for index in range(3):
        port, bus = free_port(), free_port()
        log = open(os.path.join(workdir, f"redis-{index}.log"), "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--cluster-port",
                    str(bus),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{index}.conf",
                    "--dir",
                    workdir,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
        log.close()
        ports.append(port)
    deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
    for port in ports:
        while _redis_answers(f"redis://127.0.0.1:{port}/0") is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster node on port {port} did not answer PING")
            time.sleep(0.05)
    nodes = [f"127.0.0.1:{port}" for port in ports]
    subprocess.run(
        [cli, "--cluster", "create", *nodes, "--cluster-yes"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    deadline = time.monotonic() + 30  # gossip spreads the new slot map in a few seconds
    for port in ports:  # every node must see every slot served before tests start
        client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        try:
            while client.cluster("info").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster node on port {port} never reached state ok")
                time.sleep(0.05)
        finally:
            client.close()
    return ports


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child process of this session by its PID (terminate, then kill after 5 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session", autouse=True)
def _app_database_template() -> Iterator[Path]:
    """An app database migrated once; every test gets a copy (see below)."""
    from tidings.apps.database import AppDatabase

    AppDatabase.open(f"sqlite:///{_APP_DB_TEMPLATE}").close()
    yield _APP_DB_TEMPLATE
    shutil.rmtree(_APP_DB_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_app_database(
    monkeypatch: pytest.MonkeyPatch, _app_database_template: Path
) -> Iterator[None]:
    """Each test's servers and CLI runs share an app database of that test only (a copy of
    the migrated template): apps one test creates never show in another's listing."""
    path = Path(_APP_DB_DIR) / f"apps-{next(_app_db_numbers)}.sqlite3"
    shutil.copyfile(_app_database_template, path)
    monkeypatch.setenv("TIDINGS_DATABASE_URL", f"sqlite:///{path}")
    yield
    path.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every duration/RSS figure a test measured against its bound (see
    :mod:`tests.support.timing`); ``make reliability`` also asserts them."""
    if not MEASURED:
        return
    terminalreporter.section("measured durations and memory (bound asserted by make reliability)")
    for m in MEASURED:
        flag = "ok  " if m.ok else "OVER"
        terminalreporter.write_line(
            f"{flag} {m.value:10.3f} {m.unit:<3} <= {m.limit:<8g} {m.what}  [{m.test}]"
        )
