"""Client events (``client-*``): what a connection may relay to its channel, sans I/O.

Decisions (Pusher protocol docs, pusher-js 8 and Soketi checked; Pusher wins on the wire):

- Rejections use code 4301 (Soketi; the 4300-4399 range keeps the connection open).
  Client events are refused on public and ``private-encrypted-`` channels, on channels
  not yet SUBSCRIBED, with names over the limit and with data over the limit.
- ``data`` is re-serialised compactly with orjson whatever its type, so a string stays a
  string and an object an object for receivers, exactly as the sender sent it; the size
  limit applies to that JSON text (UTF-8 bytes). A missing ``data`` relays as ``null``.
- Each connection may send ``max_client_events_per_second`` of them (Pusher's 10 by
  default, bursts of as many); more get 4301 and are dropped. Only events that pass every
  other check count: the session asks its :class:`~tidings.protocol.ratelimit.TokenBucket`
  after :func:`check_client_event` passed.
"""

from __future__ import annotations

from typing import Final

import orjson

from tidings.domain.channels import ChannelKind, channel_kind
from tidings.errors import MessageError
from tidings.protocol.pusher import codec
from tidings.protocol.pusher.policy import SessionPolicy

__all__ = ["CLIENT_EVENT_REJECTED", "check_client_event", "rate_limited"]

CLIENT_EVENT_REJECTED: Final = 4301


def check_client_event(
    message: codec.IncomingMessage, policy: SessionPolicy, *, subscribed: bool
) -> tuple[str, bytes]:
    """The channel and compact JSON ``data`` of a client event that may be relayed.

    Args:
        message: a message whose event starts with ``client-``.
        policy: the app's flag and limits.
        subscribed: whether the connection is SUBSCRIBED to the message's channel.

    Raises:
        MessageError: code 4301 (the connection stays open), saying why.
    """
    channel = message.channel
    if not policy.client_events:
        raise _client_event_error(
            "client events are disabled for this app; enable client messages for the "
            "app (enable_client_messages = true, or "
            "TIDINGS_DEFAULT_APP_ENABLE_CLIENT_MESSAGES=true for the default app)"
        )
    if channel is None:
        raise _client_event_error(f'client event {message.event[:60]!r} needs a "channel"')
    kind = channel_kind(channel)
    if kind is ChannelKind.PRIVATE_ENCRYPTED:
        raise _client_event_error(
            "Client event rejected - not allowed on encrypted channels "
            f"({channel[:60]!r}): the server cannot encrypt them for other members"
        )
    if not kind.allows_client_events:
        raise _client_event_error(
            "Client event rejected - only supported on private and presence channels "
            f"({channel[:60]!r} is a {kind.value} channel)"
        )
    if not subscribed:
        raise _client_event_error(
            f"Client event rejected - not subscribed to {channel[:60]!r}; wait for "
            "pusher:subscription_succeeded before triggering"
        )
    if len(message.event) > policy.max_event_name_length:
        raise _client_event_error(
            f"Client event rejected - event name is {len(message.event)} characters; "
            f"the limit is {policy.max_event_name_length}"
        )
    data = orjson.dumps(message.data)
    if len(data) > policy.max_client_event_bytes:
        raise _client_event_error(
            f"Client event rejected - data is {len(data)} bytes of JSON; the limit is "
            f"{policy.max_client_event_bytes}"
        )
    return channel, data


def rate_limited(rate: int) -> MessageError:
    """The 4301 error for a client event over the connection's rate limit."""
    return _client_event_error(
        f"Client event rejected due to rate limit: at most {rate} client events "
        "per second per connection; send fewer (throttle typing indicators and the "
        "like) or raise max_client_events_per_second for the app"
    )


def _client_event_error(problem: str) -> MessageError:
    return MessageError(problem, code=CLIENT_EVENT_REJECTED)
