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
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.apps_cli import sqlite_apps as sqlite_apps
from tests.support.env import clean_env as clean_env
from tests.support.mysql import mysql_server as mysql_server
from tests.support.mysql import mysql_url as mysql_url
from tests.support.postgres import postgres_server as postgres_server
from tests.support.postgres import postgres_url as postgres_url
from tests.support.redis import delete_redis_keys as delete_redis_keys
from tests.support.redis import own_redis as own_redis
from tests.support.redis import redis_cluster_url as redis_cluster_url
from tests.support.redis import redis_shards_url as redis_shards_url
from tests.support.redis import redis_url as redis_url
from tests.support.serve import serve as serve
from tests.support.timing import Measured, attach_measured, measured_in

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


#: Every figure a test measured, in the process that prints the summary (the only one,
#: or pytest-xdist's controller: the workers' reports bring theirs).
_MEASURED: list[Measured] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    attach_measured(report)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _MEASURED.extend(measured_in(report))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every duration/RSS figure a test measured against its bound (see
    :mod:`tests.support.timing`); ``make reliability`` also asserts them."""
    if not _MEASURED:
        return
    terminalreporter.section("measured durations and memory (bound asserted by make reliability)")
    for m in _MEASURED:
        flag = "ok  " if m.ok else "OVER"
        terminalreporter.write_line(
            f"{flag} {m.value:10.3f} {m.unit:<3} <= {m.limit:<8g} {m.what}  [{m.test}]"
        )
