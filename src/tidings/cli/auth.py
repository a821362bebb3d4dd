"""``tidings auth SOCKET_ID CHANNEL``: the ``auth`` a private or presence subscribe needs.

``tidings auth --user '{"id": "42"}' SOCKET_ID``: the ``auth`` of a
``pusher:signin`` (user authentication) for that exact ``user_data`` text.

Computed locally with the app's secret, with the same signing code the server
checks; handy to test a client without writing the backend's auth endpoint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from tidings.cli.common import ConfigOption, fail, load_settings, user_errors
from tidings.cli.trigger import AppOption
from tidings.client._target import settings_app
from tidings.domain.channels import ChannelKind, channel_kind, name_problem, user_id_problem
from tidings.protocol.signing import channel_auth, user_auth

__all__ = ["register"]

_SOCKET_ID = re.compile(r"\A\d+\.\d+\Z")


def auth(
    socket_id: Annotated[str, typer.Argument(help="The connection's socket_id, e.g. 123.456.")],
    channel: Annotated[
        str | None, typer.Argument(help="A private- or presence- channel (not with --user).")
    ] = None,
    user_data: Annotated[
        str | None,
        typer.Option(
            "--user-data",
            help='Presence member as JSON: {"user_id": "1", "user_info": {...}}.',
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help='Sign in (user authentication) as this user_data JSON: {"id": "42", ...}.',
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print {"auth": ...} also for private channels and --user.'),
    ] = False,
    app: AppOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the auth string for SOCKET_ID on CHANNEL (presence: the JSON pusher-js expects).

    With --user instead of CHANNEL: the auth string of pusher.signin() for that user_data.
    """
    if not _SOCKET_ID.match(socket_id):
        fail(f"socket id {socket_id!r} is not like 123.456", hint="copy it from the client")
    if user is not None:
        if channel is not None or user_data is not None:
            fail("--user signs in a user: give no CHANNEL and no --user-data with it")
        _user_auth(socket_id, user, as_json, app, config)
        return
    if channel is None:
        fail(
            "give a CHANNEL, or --user '{\"id\": ...}' for a sign-in",
            hint="tidings auth 123.456 private-chat",
        )
    problem = name_problem(channel)
    if problem is not None:
        fail(problem)
    kind = channel_kind(channel)
    if kind is ChannelKind.SERVER_TO_USER:
        fail(
            f"{channel!r} needs no auth: a connection signed in as that user may subscribe",
            hint="sign in with tidings auth --user '{\"id\": ...}' SOCKET_ID",
        )
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


def _user_auth(
    socket_id: str, user_data: str, as_json: bool, app: str | None, config: Path | None
) -> None:
    try:
        user: Any = orjson.loads(user_data)
    except orjson.JSONDecodeError as exc:
        fail(f"--user is not valid JSON: {exc}", hint='e.g. --user \'{"id": "42"}\'')
    if not isinstance(user, dict) or "id" not in user:
        fail('--user must be a JSON object with "id"', hint='e.g. {"id": "42", "user_info": {}}')
    problem = user_id_problem(user["id"])
    if problem is not None:
        fail(f'--user "id": {problem}')
    settings = load_settings(config)
    with user_errors():
        chosen = settings_app(settings, app)
    # Sign exactly the text given: the client sends the same string as user_data.
    signature = user_auth(chosen.key, chosen.secret, socket_id, user_data)
    if as_json:
        typer.echo(orjson.dumps({"auth": signature, "user_data": user_data}).decode())
    else:
        typer.echo(signature)


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
