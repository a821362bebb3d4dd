"""What a Pusher client presents to prove who it is, checked sans I/O.

Pure functions the session uses: the request's ``data`` object, a signature
against the strings the app's secrets would have signed (with a message that
says what was expected), and a presence member's ``channel_data``.
"""

from __future__ import annotations

import orjson

from tidings.errors import MessageError, SubscriptionError, echoed
from tidings.protocol import signing
from tidings.protocol.pusher import codec

__all__ = ["data_object", "presence_member", "signature_problem", "user_id_text"]


def data_object(message: codec.IncomingMessage, example: str) -> dict[str, object]:
    """The ``data`` of a ``pusher:*`` request as an object (a JSON object string is accepted).

    Raises:
        MessageError: anything else, with ``example`` of the expected shape.
    """
    data = message.data
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # reported below with the expected shape
    if not isinstance(data, dict):
        raise MessageError(f'{message.event} needs "data" to be a JSON object, like {example}')
    return data


def signature_problem(key: str, auth: object, expected: list[str], to_sign: str) -> str | None:
    """Why ``auth`` matches none of ``expected`` (app ``key``); ``None`` when it matches one."""
    if not isinstance(auth, str) or not auth:
        return (
            'missing "auth": private and presence subscriptions need the auth '
            "string your auth endpoint returns"
        )
    if any(signing.signatures_match(candidate, auth) for candidate in expected):
        return None
    given, sep, signature = auth.partition(":")
    if not sep:
        return 'Invalid auth: expected "<app key>:<signature>"'
    if given != key:
        return (
            f"Invalid key {given[:40]!r} in auth: this connection is for app key "
            f"{key!r}; sign with that app's key and secret"
        )
    return (
        f"Invalid signature: Expected HMAC SHA256 hex digest of {echoed(to_sign)!r}, "
        f"but got {signature[:80]!r}"
    )


def presence_member(channel_data: str, max_info_bytes: int) -> tuple[str, object]:
    """The ``(user_id, user_info)`` of a presence ``channel_data`` JSON string.

    Raises:
        SubscriptionError: not JSON, no usable ``user_id``, or ``user_info`` over
            ``max_info_bytes`` of JSON (``LimitReached``).
    """
    try:
        value = orjson.loads(channel_data)
    except orjson.JSONDecodeError as exc:
        raise SubscriptionError(f"channel_data is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise SubscriptionError('channel_data must be a JSON object with a "user_id"')
    user_id = user_id_text(value.get("user_id"))
    if user_id is None:
        raise SubscriptionError('channel_data needs "user_id", a non-empty string or a number')
    user_info = value.get("user_info")
    size = len(orjson.dumps(user_info))
    if size > max_info_bytes:
        raise SubscriptionError(
            f"user_info is {size} bytes of JSON; the limit is "
            f"{max_info_bytes}: send less member information",
            kind="LimitReached",
            status=400,
        )
    return user_id, user_info


def user_id_text(value: object) -> str | None:
    """A presence ``user_id`` as text (numbers as JavaScript prints them), or ``None``."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None
