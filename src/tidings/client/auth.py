"""What a backend's auth endpoints return to pusher-js: user sign-in and channel auth.

Pure functions, no I/O. The strings are computed exactly as the PyPI ``pusher``
SDK computes them (``authenticate_user`` / ``authenticate``): JSON made with the
standard library's ``json.dumps`` defaults, signed as the server checks it
(``tidings.protocol.signing``), so a backend can switch between the two
libraries and its clients see the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from tidings.client.errors import ClientError
from tidings.domain.channels import ChannelKind, channel_kind, name_problem, user_id_problem
from tidings.protocol.signing import channel_auth, user_auth

__all__ = ["channel_authorization", "user_authentication"]

_SOCKET_ID: Final = re.compile(r"\A\d+\.\d+\Z")


def _check_socket_id(socket_id: str) -> None:
    if not isinstance(socket_id, str) or not _SOCKET_ID.match(socket_id):
        raise ClientError(
            f"socket id {str(socket_id)[:40]!r} is not like 123.456",
            hint="pass the socket_id pusher-js sent to your auth endpoint",
        )


def user_authentication(
    key: str, secret: str, socket_id: str, user_data: Mapping[str, Any]
) -> dict[str, str]:
    """``{"auth", "user_data"}`` for ``pusher.signin()`` (pusher-js ``userAuthentication``).

    Args:
        user_data: ``{"id": ..., "user_info": ..., "watchlist": [...]}``; ``id`` is
            required (a string of ``[-a-zA-Z0-9_=@,.;]``, at most 200 characters).

    Raises:
        ClientError: a bad socket id, or ``user_data`` without a valid ``id``.
    """
    _check_socket_id(socket_id)
    if not isinstance(user_data, Mapping) or "id" not in user_data:
        raise ClientError(
            'user_data needs "id", the user id', hint='e.g. {"id": "42", "user_info": {...}}'
        )
    problem = user_id_problem(user_data["id"])
    if problem is not None:
        raise ClientError(f'user_data "id": {problem}', hint="user ids are strings, like '42'")
    encoded = json.dumps(dict(user_data))
    return {"auth": user_auth(key, secret, socket_id, encoded), "user_data": encoded}


def channel_authorization(
    key: str,
    secret: str,
    socket_id: str,
    channel: str,
    user_data: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """``{"auth"[, "channel_data"]}`` for a private or presence subscription.

    Args:
        user_data: the presence member, ``{"user_id": ..., "user_info": ...}``;
            required on presence channels, refused on others.

    Raises:
        ClientError: a bad socket id or channel, a public or encrypted channel
            (encrypted ones need the SDK's ``shared_secret``), or ``user_data``
            missing on presence / given elsewhere.
    """
    _check_socket_id(socket_id)
    problem = name_problem(channel)
    if problem is not None:
        raise ClientError(problem, hint="channel names are 1-200 of a-z A-Z 0-9 _ - = @ , . ;")
    kind = channel_kind(channel)
    if not kind.needs_auth:
        raise ClientError(
            f"{channel!r} needs no auth",
            hint="auth is for private- and presence- channels",
        )
    if kind is ChannelKind.PRIVATE_ENCRYPTED:
        raise ClientError(
            f"{channel!r} is end-to-end encrypted: its auth needs a shared_secret",
            hint="use the pusher SDK with encryption_master_key_base64 for encrypted channels",
        )
    channel_data: str | None = None
    if kind is ChannelKind.PRESENCE:
        if user_data is None or "user_id" not in user_data:
            raise ClientError(
                f"presence channel {channel!r} needs user_data with a user_id",
                hint='e.g. {"user_id": "42", "user_info": {"name": "Ada"}}',
            )
        channel_data = json.dumps(dict(user_data))
    elif user_data is not None:
        raise ClientError("user_data is only for presence- channels")
    answer = {"auth": channel_auth(key, secret, socket_id, channel, channel_data)}
    if channel_data is not None:
        answer["channel_data"] = channel_data
    return answer
