"""``tidings conformance`` against real tidings servers on port 0.

tidings passes every check; a server that breaks a documented rule (client events off,
a wrong secret) fails exactly the checks that cover it. The Markdown table in
docs/conformance.md is what the command prints for tidings.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from tests.integration.conftest import APP_ID, KEY, SECRET, ServerFactory
from tidings.probe.conformance import CHECKS, run_conformance
from tidings.probe.result import Status
from tidings.probe.wire import Target

DOCS = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def target(url: str, secret: str = SECRET) -> Target:
    return Target(url, APP_ID, KEY, secret, None, 3.0)


async def test_tidings_passes_every_check(server_factory: ServerFactory) -> None:
    """Every check passes against tidings, in the order of CHECKS."""
    running = await server_factory()
    results = await run_conformance(target(running.http_url))
    assert [r.name for r in results] == [c.name for c in CHECKS]
    failed = [r for r in results if r.status is not Status.OK]
    assert failed == []


async def test_client_events_off_fails_the_client_event_check_only(
    server_factory: ServerFactory,
) -> None:
    """With client messages disabled, `client-event` fails (nothing is delivered); the
    rest, including `client-public`, still pass."""
    running = await server_factory(default_app_enable_client_messages=False)
    results = {r.name: r for r in await run_conformance(target(running.http_url))}
    assert results["client-event"].status is Status.FAIL
    assert "no client-hello" in results["client-event"].detail
    assert [n for n, r in results.items() if r.status is Status.FAIL] == ["client-event"]


async def test_wrong_secret_fails_the_signed_checks(server_factory: ServerFactory) -> None:
    """A secret the server does not have: private, presence and API checks fail, while the
    checks that need no secret pass."""
    running = await server_factory()
    results = {r.name: r for r in await run_conformance(target(running.http_url, "wrong"))}
    for name in ("private", "presence", "client-event", "api-publish", "api-info"):
        assert results[name].status is Status.FAIL, results[name]
    for name in ("handshake", "ping-pong", "unknown-key", "no-protocol", "public"):
        assert results[name].status is Status.OK, results[name]


async def test_cli_table_is_the_one_in_the_docs(server_factory: ServerFactory) -> None:
    """`conformance URL --markdown tidings` exits 0 and prints the table in docs/conformance.md."""
    running = await server_factory()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "conformance", running.http_url, "--markdown", "tidings",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr
    assert stderr.decode() == f"{len(CHECKS)}/{len(CHECKS)} checks passed\n"
    table = stdout.decode().strip()
    documented = re.search(
        r"^\| check \| verifies \| tidings \|\n(?:\|.*\n)+", DOCS.read_text(), re.M
    )
    assert documented is not None, "docs/conformance.md has no table for tidings"
    assert documented.group(0).strip() == table
