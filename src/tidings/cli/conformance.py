"""``tidings conformance URL``: Pusher protocol and HTTP API checks against any server."""

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
from tidings.probe.conformance import CHECKS, run_conformance
from tidings.probe.result import Result, Status, render

__all__ = ["markdown_table", "register"]


def markdown_table(results: list[Result], server: str) -> str:
    """The results as the Markdown table docs/conformance.md shows (no timings in it)."""
    verifies = {check.name: check.verifies for check in CHECKS}
    lines = [f"| check | verifies | {server} |", "|---|---|---|"]
    for result in results:
        mark = "pass" if result.status is Status.OK else f"FAIL: {result.detail}"
        lines.append(f"| `{result.name}` | {verifies[result.name]} | {mark} |")
    return "\n".join(lines)


def conformance(
    url: Annotated[str, typer.Argument(help="The server's base URL, e.g. http://127.0.0.1:6001.")],
    app_id: AppIdOption = None,
    key: KeyOption = None,
    secret: SecretOption = None,
    cacert: CaCertOption = None,
    timeout: TimeoutOption = 5.0,
    markdown: Annotated[
        str | None,
        typer.Option(
            "--markdown",
            metavar="NAME",
            help="Print a Markdown table with a column named NAME (e.g. tidings) instead.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the Pusher protocol conformance checks against any Pusher-compatible server:
    handshake, subscriptions, presence, client events, the HTTP API and its errors.
    The app needs client events enabled. Exits 1 if any check failed."""
    target = resolve_target(url, app_id, key, secret, cacert, config, timeout)
    results = asyncio.run(run_conformance(target))
    if markdown is not None:
        typer.echo(markdown_table(results, markdown))
    else:
        typer.echo(f"tidings conformance: {target.url} (app {target.app_id}, key {target.key})")
        for line in render(results):
            typer.echo(line.replace("ok   ", "pass ", 1) if line.startswith("ok") else line)
    passed = sum(r.status is Status.OK for r in results)
    typer.echo(f"{passed}/{len(results)} checks passed", err=True)
    if passed != len(results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``conformance`` to ``app``."""
    app.command()(conformance)
