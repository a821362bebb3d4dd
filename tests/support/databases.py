"""What the PostgreSQL and the MySQL test servers share: the session's server (started when
nothing answers, a failure with the reason when that does not work either) and a fresh
database per test. :mod:`tests.support.postgres` and :mod:`tests.support.mysql` describe
their engine with an :class:`Engine` and make its fixtures with :func:`engine_fixtures`.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

__all__ = [
    "Engine",
    "database_of_one_test",
    "engine_fixtures",
    "server_url",
    "start_until_answering",
]

# How long a server that was started may take to accept connections.
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Engine:
    """One database engine, as the test fixtures need it."""

    kind: str  # "mysql": TIDINGS_TEST_MYSQL_URL, fixtures mysql_server and mysql_url
    name: str  # in messages: "PostgreSQL is needed: …"
    default_url: str
    answers: Callable[[str], str | None]  # None when the URL accepts a connection, else why not
    start: Callable[[str], str]  # start the local server: "" once the URL answers, else why not
    execute: Callable[[str, str], None]  # run one statement (autocommit) on the server at a URL
    create: str  # CREATE DATABASE for a ``{name}``
    drop: str  # DROP DATABASE IF EXISTS for a ``{name}``, even with connections left open

    @property
    def env(self) -> str:
        """The variable that names the server's URL."""
        return f"TIDINGS_TEST_{self.kind.upper()}_URL"


def engine_fixtures(engine: Engine) -> tuple[Any, Any]:
    """The fixtures of ``engine``: ``<kind>_server`` (session: the URL of a server that
    accepts connections) and ``<kind>_url`` (a database of its own for one test,
    ``<scheme>://…/tidings_test_<hex>``, dropped after)."""

    def server() -> str:
        return server_url(engine)

    def database(request: pytest.FixtureRequest) -> Iterator[str]:
        yield from database_of_one_test(engine, request.getfixturevalue(f"{engine.kind}_server"))

    server.__doc__ = f"The URL of a {engine.name} server that accepts connections."
    database.__doc__ = f"A {engine.name} database of its own for one test, dropped after."
    return (
        pytest.fixture(scope="session", name=f"{engine.kind}_server")(server),
        pytest.fixture(name=f"{engine.kind}_url")(database),
    )


def server_url(engine: Engine) -> str:
    """The URL of a server that accepts connections; started when nothing answered.

    Fails the test (never skips it) with both reasons when it cannot be had.
    """
    url = os.environ.get(engine.env, engine.default_url)
    problem = engine.answers(url)
    if problem is None:
        return url
    failure = engine.start(url)
    if not failure:
        return url
    pytest.fail(
        f"{engine.name} is needed: {url} did not answer ({problem}) and starting it failed: "
        f"{failure}. Start {engine.name} or set {engine.env}.",
        pytrace=False,
    )


def database_of_one_test(engine: Engine, server: str) -> Iterator[str]:
    """Create a database of its own (``…/tidings_test_<hex>``), yield its URL, drop it after."""
    name = f"tidings_test_{uuid.uuid4().hex[:12]}"
    engine.execute(server, engine.create.format(name=name))
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        engine.execute(server, engine.drop.format(name=name))


def start_until_answering(
    command: list[str], url: str, answers: Callable[[str], str | None]
) -> str:
    """Run ``command``, which starts a local server; ``""`` as soon as ``url`` answers, else
    why not.

    Done when the server answers, not when the command returns: an init script goes on
    after the server accepts connections (MariaDB's sleeps a second before its first
    check, then checks every table), and the tests need only the connections. The command
    is left to finish by itself (a thread reaps it).
    """
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while (problem := answers(url)) is not None:
        if proc.poll() is not None and proc.returncode != 0:
            problem = answers(url)  # "already running" exits non-zero: fine if it answers
            if problem is None:
                break
            output = proc.communicate()[0].strip()
            return f"{' '.join(command)} failed (exit {proc.returncode}): {output}"
        if time.monotonic() > deadline:
            return f"started, but it still does not answer: {problem}"
        # Nothing to await but the server's socket: a refused connection answers at once.
        time.sleep(0.05)
    threading.Thread(target=proc.communicate, daemon=True).start()
    return ""
