"""Who may join a channel: the checks of ``pusher:subscribe``, sans I/O.

Decisions (Pusher protocol docs, pusher-js 8 and Soketi checked; Pusher wins on the wire):

- Auth: ``auth`` must equal ``key:HMAC(secret, socket_id:channel[:channel_data])``,
  compared in constant time over the whole string, so a wrong key fails as well.
  ``channel_data`` is signed whenever the client sent it (Pusher and Soketi do the same
  for private channels). Failures answer ``pusher:subscription_error`` with
  ``{"type": "AuthError", "status": 401}`` and, like Pusher, say which string to sign.
  ``channel_data`` problems (bad JSON, no ``user_id``) are ``AuthError``/401 too: the
  app's auth endpoint produced them. Bad names are ``InvalidChannel``/400 and limits
  (subscriptions, member info size) ``LimitReached``/400.
- Presence ``user_id`` may be a string or a number (Laravel sends integers); numbers
  become their JavaScript string form (``12``, ``1.5``). An empty id is refused.
- ``#server-to-user-{id}`` (pusher-js subscribes to it after ``signin_success``)
  needs no ``auth``: only a connection signed in as ``id`` may subscribe; others
  get ``subscription_error`` ``AuthError``/403 saying why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from tidings.domain.channels import (
    ChannelKind,
    channel_kind,
    server_to_user_channel,
    server_to_user_id,
    validate_channel_name,
)
from tidings.errors import SubscriptionError
from tidings.protocol import signing
from tidings.protocol.commands import Subscribe
from tidings.protocol.pusher.credentials import presence_member, signature_problem
from tidings.protocol.pusher.policy import SessionPolicy

__all__ = ["authorise"]


def authorise(
    channel: str,
    data: Mapping[str, object],
    *,
    socket_id: str,
    policy: SessionPolicy,
    known: Collection[str],
    signed_in_as: str | None,
) -> Subscribe:
    """The ``Subscribe`` command for a subscribe request that passes every check.

    Args:
        channel: the requested channel (a non-empty string).
        data: the request's ``data`` object (``auth``, ``channel_data``).
        socket_id: the connection's ``socket_id``, part of the signed string.
        policy: the app's credentials and limits.
        known: the channels the connection is subscribed to or joining.
        signed_in_as: the user the connection signed in as, if it did.

    Raises:
        SubscriptionError: the request is refused; its kind and status go on the wire.
    """
    validate_channel_name(channel)
    limit = policy.max_subscriptions
    if channel not in known and len(known) >= limit:
        raise SubscriptionError(
            f"this connection is already subscribed to {limit} channels, the limit; "
            "unsubscribe from some first",
            kind="LimitReached",
            status=400,
        )
    kind = channel_kind(channel)
    if kind is ChannelKind.SERVER_TO_USER:
        _check_own_channel(channel, signed_in_as)
        return Subscribe(channel)
    if not kind.needs_auth:
        return Subscribe(channel)
    channel_data = data.get("channel_data")
    if channel_data is not None and not isinstance(channel_data, str):
        raise SubscriptionError(
            '"channel_data" must be the JSON string your auth endpoint returned, '
            "not an object: send it unchanged"
        )
    if kind is ChannelKind.PRESENCE and not channel_data:
        raise SubscriptionError(
            f"presence channel {channel!r} needs channel_data: your auth endpoint must "
            'return {"auth": ..., "channel_data": "{\\"user_id\\": ...}"}'
        )
    to_sign = f"{socket_id}:{channel}" + (f":{channel_data}" if channel_data else "")
    expected = [
        signing.channel_auth(policy.key, secret, socket_id, channel, channel_data or None)
        for secret in policy.secrets
    ]
    problem = signature_problem(policy.key, data.get("auth"), expected, to_sign)
    if problem is not None:
        raise SubscriptionError(f"{problem} (channel {channel!r})")
    if kind is not ChannelKind.PRESENCE:
        return Subscribe(channel)
    assert channel_data  # checked above; narrows for mypy
    user_id, user_info = presence_member(channel_data, policy.max_member_info_bytes)
    return Subscribe(channel, user_id, user_info)


def _check_own_channel(channel: str, signed_in_as: str | None) -> None:
    """Refuse ``#server-to-user-{id}`` unless the connection signed in as ``id``."""
    owner = server_to_user_id(channel)
    if signed_in_as is None:
        raise SubscriptionError(
            f"{channel[:80]!r} is a user's own channel: sign in first "
            "(pusher.signin()); pusher-js subscribes to it by itself after "
            "pusher:signin_success",
            status=403,
        )
    if owner != signed_in_as:
        raise SubscriptionError(
            f"{channel[:80]!r} belongs to another user: this connection is signed in "
            f"as {signed_in_as!r} and may subscribe only to "
            f"{server_to_user_channel(signed_in_as)!r}",
            status=403,
        )
