"""``tidings doctor`` against real servers on port 0: healthy, TLS, wrong secret, gone, no Redis."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.tls import client_context, self_signed
from tests.integration.conftest import APP_ID, KEY, SECRET, ServerFactory
from tests.support.ports import closed_port
from tests.support.redis import delete_redis_keys
from tidings.probe.doctor import run_doctor
from tidings.probe.result import Result, Status
from tidings.probe.wire import Target

NAMES = ["reachable", "tls", "ready", "broker", "websocket", "api", "round-trip"]


def by_name(results: list[Result]) -> dict[str, Result]:
    assert [r.name for r in results] == NAMES
    return {r.name: r for r in results}


def target(url: str, **changes: object) -> Target:
    fields: dict[str, object] = {"app_id": APP_ID, "key": KEY, "secret": SECRET, "timeout": 3.0}
    fields.update(changes)
    return Target(url, **fields)  # type: ignore[arg-type]


async def test_healthy_server_passes_every_check(server_factory: ServerFactory) -> None:
    """A fresh server: every check ok (tls skipped on plain http), with figures."""
    running = await server_factory()
    results = by_name(await run_doctor(target(running.http_url)))
    assert results["tls"].status is Status.SKIP
    for name in ("reachable", "ready", "broker", "websocket", "api", "round-trip"):
        assert results[name].status is Status.OK, results[name]
    assert results["broker"].detail == "memory (single node)"
    assert "clock skew" in results["api"].detail
    assert (
        "publish -> receive" in results["round-trip"].detail
        and " ms " in results["round-trip"].detail
    )


async def test_cli_exit_codes_and_one_line_per_check(server_factory: ServerFactory) -> None:
    """The command prints a header and one line per check; exit 0 when healthy, 1 when not."""
    running = await server_factory()
    with closed_port() as nothing:
        for url, expected in ((running.http_url, 0), (f"http://127.0.0.1:{nothing}", 1)):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tidings", "doctor", url, "--timeout", "3",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
            lines = stdout.decode().splitlines()
            assert proc.returncode == expected, (stdout, stderr)
            assert lines[0] == f"tidings doctor: {url} (app 1, key app-key)"
            assert [line.split()[1] for line in lines[1:]] == NAMES
    assert stderr.decode() == "1 check(s) failed: reachable\n"
    assert lines[1].startswith("FAIL  reachable")
    assert "(connection refused); fix: start it (tidings serve" in lines[1]
    assert all(line.startswith("skip ") for line in lines[2:])


async def test_tls_needs_the_certificate_then_reports_its_expiry(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Self-signed TLS: without the cert, tls fails with the --cacert fix and stops the run;
    with it, the expiry is reported (1 day left: a warning) and the rest passes."""
    cert, key = self_signed(tmp_path)
    running = await server_factory(tls_cert=cert, tls_key=key)
    untrusted = by_name(await run_doctor(target(running.http_url)))
    assert untrusted["tls"].status is Status.FAIL
    assert "self-signed certificate" in untrusted["tls"].detail
    assert untrusted["tls"].fix == "pass the server's certificate: --cacert cert.pem"
    assert untrusted["websocket"].status is Status.SKIP
    trusted = by_name(await run_doctor(target(running.http_url, tls=client_context(cert))))
    assert trusted["tls"].status is Status.WARN
    assert "certificate verified for 127.0.0.1" in trusted["tls"].detail
    assert "renew the certificate" in trusted["tls"].fix
    assert trusted["round-trip"].status is Status.OK


async def test_wrong_secret_fails_auth_and_api_with_the_fix(server_factory: ServerFactory) -> None:
    """A wrong secret: the private subscribe and the signed call fail, naming --secret."""
    running = await server_factory()
    results = by_name(await run_doctor(target(running.http_url, secret="wrong")))
    assert results["websocket"].status is Status.FAIL
    assert "pusher:subscription_error: Invalid signature" in results["websocket"].detail
    assert "check --secret" in results["websocket"].fix
    assert results["api"].status is Status.FAIL
    assert "401 Invalid signature" in results["api"].detail
    assert results["api"].fix.startswith("check --key and --secret")
    assert results["round-trip"].status is Status.SKIP


async def test_unknown_app_id_is_named(server_factory: ServerFactory) -> None:
    """An app id the server does not have: the api check fails with --app-id as the fix."""
    running = await server_factory()
    results = by_name(await run_doctor(target(running.http_url, app_id="999")))
    assert results["api"].status is Status.FAIL
    assert results["api"].detail.startswith("signed GET /apps/999/channels: 404")
    assert results["api"].fix.startswith("check --app-id")


async def test_unreachable_redis_fails_ready_and_broker(server_factory: ServerFactory) -> None:
    """Redis down: ready and broker fail with how to start it; local delivery still works."""
    with closed_port() as nothing:
        running = await server_factory(broker_url=f"redis://127.0.0.1:{nothing}/0")
        results = by_name(await run_doctor(target(running.http_url)))
    assert results["ready"].status is Status.FAIL
    assert results["ready"].detail == "/ready: 503 broker unreachable"
    assert results["broker"].status is Status.FAIL
    assert "start Redis" in results["broker"].fix
    assert results["api"].status is Status.FAIL  # the channel list needs Redis in a cluster
    assert "Redis did not answer" in results["api"].detail
    assert results["round-trip"].status is Status.OK


@pytest.mark.redis
async def test_redis_broker_lists_the_nodes(server_factory: ServerFactory, redis_url: str) -> None:
    """With Redis up the broker line names the kind and the live nodes."""
    prefix = f"doctor-{uuid.uuid4().hex[:12]}"
    running = await server_factory(broker_url=redis_url, redis_prefix=prefix, node_id="n1")
    try:
        results = by_name(await run_doctor(target(running.http_url)))
        assert results["broker"].status is Status.OK
        assert results["broker"].detail == "redis up, 1 node(s): n1"
    finally:
        await running.shutdown()
        delete_redis_keys(redis_url, prefix)
