"""``tidings auth SOCKET_ID CHANNEL``: the ``auth`` a private or presence subscribe needs.

Computed locally with the app's secret, with the same signing code the server
checks; handy to test a client without writing the backend's auth endpoint.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
import typer

from tidings.cli.common import ConfigOption, fail, load_settings, user_errors
from tidings.cli.trigger import AppOption
from tidings.client._target import settings_app
from tidings.domain.channels import ChannelKind, channel_kind, name_problem
from tidings.protocol.signing import channel_auth

__all__ = ["register"]

_SOCKET_ID = re.compile(r"\A\d+\.\d+\Z")


def auth(
    socket_id: Annotated[str, typer.Argument(help="The connection's socket_id, e.g. 123.456.")],
    channel: Annotated[str, typer.Argument(help="A private- or presence- channel.")],
    user_data: Annotated[
        str | None,
        typer.Option(
            "--user-data",
            help='Presence member as JSON: {"user_id": "1", "user_info": {...}}.',
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"auth": ...} also for private channels.')
    ] = False,
    app: AppOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the auth string for SOCKET_ID on CHANNEL (presence: the JSON pusher-js expects)."""
    if not _SOCKET_ID.match(socket_id):
        fail(f"socket id {socket_id!r} is not like 123.456", hint="copy it from the client")
    problem = name_problem(channel)
    if problem is not None:
        fail(problem)
    kind = channel_kind(channel)
    if not kind.needs_auth:
        fail(
            f"{channel!r} is a public channel and needs no auth",
            hint="auth is for private- and presence- channels",
        )
    settings = load_settings(config)
    with user_errors():
        chosen = settings_app(settings, app)
    channel_data: str | None = None
    if kind is ChannelKind.PRESENCE:
        channel_data = _presence_channel_data(user_data)
    elif user_data is not None:
        fail("--user-data is only for presence- channels")
    signature = channel_auth(chosen.key, chosen.secret, socket_id, channel, channel_data)
    if channel_data is None and not as_json:
        typer.echo(signature)
        return
    payload = {"auth": signature}
    if channel_data is not None:
        payload["channel_data"] = channel_data
    typer.echo(orjson.dumps(payload).decode())


def _presence_channel_data(user_data: str | None) -> str:
    if user_data is None:
        fail(
            "presence channels need --user-data",
            hint='e.g. --user-data \'{"user_id": "1", "user_info": {"name": "Ada"}}\'',
        )
    try:
        member: Any = orjson.loads(user_data)
    except orjson.JSONDecodeError as exc:
        fail(f"--user-data is not valid JSON: {exc}")
    if not isinstance(member, dict) or not isinstance(member.get("user_id"), str | int):
        fail('--user-data must be a JSON object with a "user_id"', hint='e.g. {"user_id": "1"}')
    # Sign exactly the text given: the client sends the same string as channel_data.
    return user_data


def register(app: typer.Typer) -> None:
    """Add ``auth`` to ``app``."""
    app.command()(auth)
