"""``tidings trigger CHANNEL EVENT [DATA]``: publish through the running server's HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tidings.cli.common import ConfigOption, echo_json, fail, load_settings, user_errors
from tidings.client import Client

__all__ = ["AppOption", "CaCertOption", "ReplyJsonOption", "UrlOption", "api_client", "register"]

#: ``--json`` of the commands that query the HTTP API.
ReplyJsonOption = Annotated[bool, typer.Option("--json", help="Print the raw JSON reply.")]
AppOption = Annotated[
    str | None,
    typer.Option("--app", "-a", help="App id from the configuration (default: the first app)."),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Server base URL (default: public_url, else http://HTTP_HOST:HTTP_PORT).",
        show_default=False,
    ),
]

CaCertOption = Annotated[
    Path | None,
    typer.Option(
        "--cacert",
        help="PEM certificate to trust for https:// (a self-signed server's own cert.pem; "
        "default: the configured tls_cert when it is self-signed, else the system's CAs).",
        show_default=False,
    ),
]


def api_client(
    config: ConfigOption, app_id: str | None, url: str | None, cacert: Path | None = None
) -> Client:
    """A :class:`~tidings.client.Client` for the configured app and server."""
    if cacert is not None and not cacert.is_file():
        fail(f"--cacert {cacert}: no such file", hint="give the server's PEM certificate")
    settings = load_settings(config)
    with user_errors():
        return Client.from_settings(settings, app_id=app_id, url=url, cafile=cacert)


def trigger(
    channel: Annotated[str, typer.Argument(help="Channel to publish on.")],
    event: Annotated[str, typer.Argument(help="Event name.")],
    data: Annotated[
        str, typer.Argument(help="Event data, sent as given (usually JSON text).")
    ] = "{}",
    socket_id: Annotated[
        str | None,
        typer.Option("--socket-id", help="Exclude this connection (Echo's toOthers)."),
    ] = None,
    info: Annotated[
        str | None,
        typer.Option("--info", help="Also return counts: user_count,subscription_count."),
    ] = None,
    app: AppOption = None,
    url: UrlOption = None,
    cacert: CaCertOption = None,
    config: ConfigOption = None,
) -> None:
    """Publish EVENT with DATA on CHANNEL through the running server's HTTP API."""
    client = api_client(config, app, url, cacert)
    attributes = info.split(",") if info else ()
    with user_errors():
        reply = client.trigger(channel, event, data, socket_id=socket_id, info=attributes)
    if reply:
        echo_json({"channels": reply})
    else:
        typer.echo(f"triggered {event} on {channel}")


def register(app: typer.Typer) -> None:
    """Add ``trigger`` to ``app``."""
    app.command()(trigger)
