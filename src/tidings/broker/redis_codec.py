"""The Redis payload of a message: a compact JSON array, tagged and numbered.

``[format, origin node, sequence number, kind, *fields]``. The sequence number
grows with every message a node sends, so a receiver can drop one it already
has (see ``RedisBroker``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from tidings.domain.messages import (
    Control,
    MemberJoined,
    MemberLeft,
    Message,
    Publication,
    SubscriptionCount,
    WatchlistEvent,
)

__all__ = ["decode_message", "encode_message", "is_publication", "origin_prefix"]

#: Version tag of the payload format (first item of the JSON array).
_FORMAT: Final = 3

_PUBLICATION, _JOINED, _LEFT, _COUNT, _CONTROL = "p", "j", "l", "n", "c"
_WATCHLIST = "w"


def is_publication(payload: bytes) -> bool:
    """Whether an ``encode_message`` payload carries a publication."""
    try:
        items = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(items, list) and len(items) > 3 and items[3] == _PUBLICATION


def origin_prefix(origin: str) -> bytes:
    """The bytes every ``encode_message`` payload of ``origin`` starts with (this format).

    A node compares a payload's first bytes with its own prefix to skip the echo
    of its own messages without decoding them. No other node's payload starts
    with them: the node id is a complete JSON string followed by a comma.
    """
    return orjson.dumps([_FORMAT, origin])[:-1] + b","


def encode_message(message: Message | Control, origin: str, seq: int = 0) -> bytes:
    """The Redis payload of ``message``: a compact JSON array tagged with the publishing node.

    ``seq`` grows with every message a node sends, so a receiver can drop a
    message it already has (a batch sent again after a failure that Redis had
    executed after all). ``MemberJoined.members`` / ``MemberLeft.members`` are a
    node's local view and are not sent.
    """
    items: list[Any]
    match message:
        case Publication():
            m = message
            items = [_PUBLICATION, m.app_id, m.channel, m.event, m.data, m.socket_id, m.user_id]
            items += [m.meta, m.from_client, m.cache]
        case MemberJoined():
            items = [_JOINED, message.app_id, message.channel, message.user_id, message.info]
            items.append(message.socket_id)
        case MemberLeft():
            items = [_LEFT, message.app_id, message.channel, message.user_id, message.socket_id]
        case SubscriptionCount():
            items = [_COUNT, message.app_id, message.channel, message.count]
        case WatchlistEvent():
            items = [_WATCHLIST, message.app_id, message.channel, message.name]
            items += [list(message.user_ids), message.socket_id]
        case Control():
            items = [_CONTROL, message.command, dict(message.args)]
    return orjson.dumps([_FORMAT, origin, seq, *items])


def decode_message(raw: bytes) -> tuple[str, int, Message | Control]:
    """The origin node id, its sequence number and the message in ``raw`` (``encode_message``).

    Raises:
        ValueError: ``raw`` is not a payload of this format version.
    """
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(items, list) or len(items) < 4 or items[0] != _FORMAT:
        raise ValueError(f"not a tidings message (format {_FORMAT}): {raw[:80]!r}")
    origin, seq, kind, *fields = items[1:]
    if not isinstance(seq, int):
        raise ValueError(f"not a tidings message (sequence {seq!r}): {raw[:80]!r}")
    try:
        return str(origin), seq, _MESSAGE_DECODERS[kind](*fields)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a tidings message ({exc}): {raw[:80]!r}") from None


_MESSAGE_DECODERS: Final[dict[str, Callable[..., Message | Control]]] = {
    _PUBLICATION: Publication,
    _JOINED: MemberJoined,
    _LEFT: MemberLeft,
    _COUNT: SubscriptionCount,
    _CONTROL: Control,
    _WATCHLIST: lambda app_id, channel, name, user_ids, socket_id: WatchlistEvent(
        app_id, channel, name, tuple(user_ids), socket_id
    ),
}
