"""``tidings doctor [URL]``: check a running server end to end, one line per check."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from tidings.cli.common import ConfigOption
from tidings.cli.probe_options import (
    AppIdOption,
    KeyOption,
    SecretOption,
    TimeoutOption,
    resolve_target,
)
from tidings.cli.trigger import CaCertOption
from tidings.probe.doctor import run_doctor
from tidings.probe.result import Status, render

__all__ = ["register"]


def doctor(
    url: Annotated[
        str | None,
        typer.Argument(
            help="Server base URL (default: public_url, else http://HTTP_HOST:HTTP_PORT).",
            show_default=False,
        ),
    ] = None,
    app_id: AppIdOption = None,
    key: KeyOption = None,
    secret: SecretOption = None,
    cacert: CaCertOption = None,
    timeout: TimeoutOption = 5.0,
    config: ConfigOption = None,
) -> None:
    """Check reachability, TLS, /ready, the broker, WebSocket subscribe, a signed API call
    (with clock skew) and a publish-to-receive round trip. Exits 1 if any check failed."""
    target = resolve_target(url, app_id, key, secret, cacert, config, timeout)
    results = asyncio.run(run_doctor(target))
    typer.echo(f"tidings doctor: {target.url} (app {target.app_id}, key {target.key})")
    for line in render(results):
        typer.echo(line)
    failed = [r.name for r in results if r.status is Status.FAIL]
    if failed:
        typer.echo(f"{len(failed)} check(s) failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to ``app``."""
    app.command()(doctor)
