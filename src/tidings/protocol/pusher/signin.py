"""``pusher:signin`` (user authentication), checked sans I/O.

Decisions (Pusher protocol docs, pusher-js 8 and Soketi checked; Pusher wins on the wire):

- Failures of any kind answer ``pusher:error`` 4009 and close with 4009 (Pusher closes
  unauthorised sign-ins). Signing in again as the same user succeeds again; as another
  user it fails (the docs: "It fails if the connection is already associated with a
  different user id").
- The user ``id`` must be a string of at most 200 characters of ``[-a-zA-Z0-9_=@,.;]``
  (the PyPI SDK's ``validate_user_id``; pusher-js wants a non-empty string).
- ``user_data.watchlist``, when present, must be a list of at most
  :data:`MAX_WATCHLIST` (100) valid user ids, else the sign-in fails (4009): ``SignIn``
  carries it deduplicated and the core sends the watchlist events.
"""

from __future__ import annotations

from typing import Final

import orjson

from tidings.domain.channels import user_id_problem
from tidings.errors import MessageError
from tidings.protocol import signing
from tidings.protocol.commands import SignIn
from tidings.protocol.pusher import codec
from tidings.protocol.pusher.credentials import data_object, signature_problem
from tidings.protocol.pusher.policy import SessionPolicy

__all__ = ["MAX_WATCHLIST", "UNAUTHORIZED", "verify_signin"]

UNAUTHORIZED: Final = 4009
MAX_WATCHLIST: Final = 100  # user ids in one user_data.watchlist


def verify_signin(
    message: codec.IncomingMessage,
    *,
    socket_id: str,
    policy: SessionPolicy,
    signed_in_as: str | None,
) -> tuple[SignIn, str]:
    """The ``SignIn`` command and the signed ``user_data`` of a valid sign-in.

    Args:
        message: the ``pusher:signin`` message.
        socket_id: the connection's ``socket_id``, part of the signed string.
        policy: the app's credentials.
        signed_in_as: the user the connection already signed in as, if any.

    Returns:
        The command for the shell, and ``user_data`` to echo in ``signin_success``.

    Raises:
        MessageError: code 4009 with ``close`` set, saying what is wrong.
    """
    try:
        data = data_object(message, '{"auth":"...","user_data":"..."}')
    except MessageError as exc:
        raise _signin_error(exc.message) from exc
    user_data = data.get("user_data")
    if not isinstance(user_data, str) or not user_data:
        raise _signin_error('pusher:signin needs "data.user_data", a JSON string')
    expected = [
        signing.user_auth(policy.key, secret, socket_id, user_data) for secret in policy.secrets
    ]
    to_sign = f"{socket_id}::user::{user_data}"
    problem = signature_problem(policy.key, data.get("auth"), expected, to_sign)
    if problem is not None:
        raise _signin_error(problem)
    try:
        user = orjson.loads(user_data)
    except orjson.JSONDecodeError as exc:
        raise _signin_error(f"user_data is not valid JSON ({exc})") from exc
    if not isinstance(user, dict) or "id" not in user:
        raise _signin_error('user_data must be a JSON object with "id", the user id string')
    user_id = user["id"]
    problem = user_id_problem(user_id)
    if problem is not None:
        raise _signin_error(f'user_data "id": {problem}')
    assert isinstance(user_id, str)  # checked by user_id_problem; narrows for mypy
    watchlist = _watchlist(user.get("watchlist"))
    if signed_in_as is not None and signed_in_as != user_id:
        raise _signin_error(
            f"this connection is already signed in as {signed_in_as!r}; "
            "open a new connection to sign in as another user"
        )
    return SignIn(user_id, user.get("user_info"), watchlist), user_data


def _watchlist(value: object) -> tuple[str, ...]:
    """``user_data.watchlist``: up to :data:`MAX_WATCHLIST` valid user ids, deduplicated."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _signin_error('user_data "watchlist" must be a list of user id strings')
    if len(value) > MAX_WATCHLIST:
        raise _signin_error(
            f'user_data "watchlist" has {len(value)} user ids; the limit is {MAX_WATCHLIST}: '
            "watch fewer users"
        )
    for item in value:
        problem = user_id_problem(item)
        if problem is not None:
            raise _signin_error(f'user_data "watchlist": {problem}')
    return tuple(dict.fromkeys(value))


def _signin_error(problem: str) -> MessageError:
    return MessageError(f"Sign-in failed: {problem}", code=UNAUTHORIZED, close=True)
