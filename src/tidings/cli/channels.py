"""``tidings channels``: list the occupied channels of an app on the running server."""

from __future__ import annotations

from typing import Annotated

import typer

from tidings.cli.common import ConfigOption, echo_json, fail, user_errors
from tidings.cli.trigger import AppOption, CaCertOption, ReplyJsonOption, UrlOption, api_client

__all__ = ["register"]


def channels(
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", "-p", help="Only channels whose name starts with this."),
    ] = None,
    info: Annotated[
        str | None,
        typer.Option(
            "--info",
            help="Counts to show: subscription_count, user_count (needs --prefix presence-).",
        ),
    ] = None,
    as_json: ReplyJsonOption = False,
    app: AppOption = None,
    url: UrlOption = None,
    cacert: CaCertOption = None,
    config: ConfigOption = None,
) -> None:
    """List occupied channels, one per line, with the requested counts."""
    wanted = [part.strip() for part in info.split(",") if part.strip()] if info else []
    # The server's own hint names its query parameter (filter_by_prefix); say the flag.
    if "user_count" in wanted and not (prefix or "").startswith("presence-"):
        fail(
            "--info user_count counts presence members, so it needs presence channels",
            hint="add --prefix presence- (e.g. tidings channels --prefix presence- "
            "--info user_count)",
            code=2,
        )
    client = api_client(config, app, url, cacert)
    with user_errors():
        found = client.channels(prefix, wanted)
    if as_json:
        echo_json({"channels": found})
        return
    if not found:
        where = f" starting with {prefix!r}" if prefix else ""
        typer.echo(f"no occupied channels{where}", err=True)
        return
    for name, attributes in found.items():
        counts = " ".join(f"{k}={v}" for k, v in attributes.items())
        typer.echo(f"{name} {counts}".rstrip())


def register(app: typer.Typer) -> None:
    """Add ``channels`` to ``app``."""
    app.command()(channels)
