"""``tidings history CHANNEL``: print what a history channel keeps, from the running server."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from tidings.cli.common import ConfigOption, echo_json, user_errors
from tidings.cli.trigger import AppOption, CaCertOption, ReplyJsonOption, UrlOption, api_client

__all__ = ["register"]


def history(
    channel: Annotated[str, typer.Argument(help="A channel the app keeps history of.")],
    after: Annotated[
        int, typer.Option("--after", min=0, help="Only events after this serial.")
    ] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, max=1000, help="At most this many events.")
    ] = None,
    as_json: ReplyJsonOption = False,
    app: AppOption = None,
    url: UrlOption = None,
    cacert: CaCertOption = None,
    config: ConfigOption = None,
) -> None:
    """Print a history channel's kept events, one per line: serial, event, data."""
    client = api_client(config, app, url, cacert)
    with user_errors():
        page = client.history(channel, after_serial=after, limit=limit)
    if as_json:
        reply = {
            "stream_id": page.stream_id,
            "serial": page.serial,
            "events": page.events,
            "complete": page.complete,
        }
        echo_json(reply)
        return
    typer.echo(f"stream {page.stream_id} at serial {page.serial}", err=True)
    if not page.complete:
        typer.echo(f"events after serial {after} were dropped (expired or evicted)", err=True)
    for event in page.events:
        data = orjson.dumps(event["data"]).decode()
        typer.echo(f"{event['serial']} {event['event']} {data}")


def register(app: typer.Typer) -> None:
    """Add ``history`` to ``app``."""
    app.command()(history)
