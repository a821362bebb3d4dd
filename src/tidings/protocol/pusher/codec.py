"""Pusher Channels protocol v7 wire format: pure decode and encode functions.

Decisions, checked against the Pusher protocol docs, pusher-js 8 and Soketi:

- ``data`` of ``pusher:connection_established``, ``pusher_internal:subscription_succeeded``,
  ``pusher_internal:member_added`` / ``member_removed`` and
  ``pusher_internal:subscription_count`` is a JSON-encoded *string* ("double encoding", as
  Pusher documents and sends). pusher-js ``JSON.parse``\\ s a string ``data`` and uses an
  object as is, so either shape parses; we send what Pusher sends.
- ``data`` of ``pusher:error``, ``pusher:subscription_error``, ``pusher:signin_success``,
  ``pusher:ping`` and ``pusher:pong`` is a JSON object, as the docs show and Soketi sends.
- ``subscription_succeeded`` on a non-presence channel carries ``"data":"{}"``.
- ``pusher:cache_miss`` carries only ``event`` and ``channel`` (Soketi's form; pusher-js
  emits it on the channel with ``undefined`` data).
- A channel event's ``data`` is inserted verbatim: it is already the JSON text of the value
  (a publication is encoded once and shared by every subscriber, so nothing is re-encoded).
- History (tidings' own, Sockudo's names): a channel event of a channel that keeps history
  carries top-level ``"serial"`` and ``"stream_id"``; ``subscription_succeeded`` of such a
  channel carries the channel's position top-level (and inside ``data`` on non-presence
  channels, whose data is otherwise ``{}``), plus ``"recovered"`` when the client asked
  for a recovery. pusher-js, Echo and piesocket-js ignore unknown top-level fields.
- The protocol version query parameter: missing -> 4008, not an integer -> 4006, not one of
  5, 6, 7 -> 4007 (the codes of the protocol docs' "Error Codes"; the docs' fallback to
  protocol 1 is deprecated and every current client sends ``protocol=7``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from tidings.domain.history import STREAM_ID_PATTERN as _STREAM_ID
from tidings.errors import MAX_ECHO, ConnectionRejected, MessageError, SubscriptionError

__all__ = [
    "SUPPORTED_PROTOCOL_VERSIONS",
    "IncomingMessage",
    "decode",
    "encode_cache_miss",
    "encode_connection_established",
    "encode_error",
    "encode_event",
    "encode_member_added",
    "encode_member_removed",
    "encode_ping",
    "encode_pong",
    "encode_signin_success",
    "encode_subscription_count",
    "encode_subscription_error",
    "encode_subscription_succeeded",
    "member_added_data",
    "member_removed_data",
    "subscription_count_data",
    "parse_position",
    "parse_protocol_version",
]

SUPPORTED_PROTOCOL_VERSIONS: Final = frozenset({5, 6, 7})

_PING: Final = '{"event":"pusher:ping","data":{}}'
_PONG: Final = '{"event":"pusher:pong","data":{}}'


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One decoded client frame. Don't subclass.

    Attributes:
        event: the event name (always a string).
        channel: the top-level ``channel``, or ``None`` when absent.
        data: the decoded ``data`` value, or ``None`` when absent or ``null``.
    """

    event: str
    channel: str | None = None
    data: object = None


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def decode(text: str) -> IncomingMessage:
    """Parse a client text frame.

    Args:
        text: the WebSocket text message as received.

    Returns:
        The message; ``data`` is left as decoded (the session checks its shape per event).

    Raises:
        MessageError: (no code, connection stays open) when ``text`` is not JSON, not a
            JSON object, has no string ``event``, or a ``channel`` that is not a string.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MessageError(
            f"message is not valid JSON ({exc}); send one JSON object per WebSocket message, "
            'like {"event":"pusher:ping","data":{}}'
        ) from exc
    if not isinstance(value, dict):
        raise MessageError(
            f"message must be a JSON object, got a JSON {_kind(value)}; "
            'send {"event": ..., "data": ...}'
        )
    event = value.get("event")
    if event is None:
        raise MessageError('message has no "event" field; every Pusher message names its event')
    if not isinstance(event, str):
        raise MessageError(f'"event" must be a string, got a JSON {_kind(event)}')
    channel = value.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise MessageError(f'"channel" must be a string, got a JSON {_kind(channel)}')
    return IncomingMessage(event, channel, value.get("data"))


def parse_position(value: object) -> tuple[int, str]:
    """The ``position`` of a ``pusher:subscribe``: ``{"serial": N, "stream_id": "S"}``.

    Returns:
        ``(serial, stream_id)``.

    Raises:
        SubscriptionError: (``InvalidPosition``, 400) not an object, a serial that is not
            a non-negative integer, or a stream id that is not one this server mints.
    """
    example = 'send "position": {"serial": 41, "stream_id": "<from the last event>"}'
    if not isinstance(value, dict):
        raise _position_error(
            f'"position" must be a JSON object, got a JSON {_kind(value)}; {example}'
        )
    serial = value.get("serial")
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        shown = orjson.dumps(serial).decode()[:40]
        raise _position_error(
            f'"position.serial" must be a non-negative integer, got {shown}; {example}'
        )
    stream_id = value.get("stream_id")
    if not isinstance(stream_id, str) or not _STREAM_ID.fullmatch(stream_id):
        shown = orjson.dumps(stream_id).decode()[:40]
        raise _position_error(
            f'"position.stream_id" must be a stream id this server sent (16 hex digits), '
            f"got {shown}; {example}"
        )
    return serial, stream_id


def _position_error(message: str) -> SubscriptionError:
    return SubscriptionError(message, kind="InvalidPosition", status=400)


def _kind(value: object) -> str:
    """The JSON type name of a decoded value, for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def encode_event(
    event: str,
    channel: str | None,
    data: str,
    user_id: str | None = None,
    serial: int | None = None,
    stream_id: str | None = None,
) -> str:
    """A channel event: ``{"event":…,"channel":…,"data":<data>[,"user_id":…]}``.

    A kept event adds ``,"serial":…,"stream_id":…`` (its place in the channel's history).

    This is the fan-out hot path: it runs once per publication, never per subscriber.

    Args:
        event: the event name.
        channel: the channel, or ``None`` for a connection-level event.
        data: the JSON text of the data value, inserted verbatim (not re-encoded).
        user_id: the sender of a client event on a presence channel.
        serial: the event's place in the channel's history stream, if it was kept.
        stream_id: that stream (given with ``serial``).
    """
    text = '{"event":' + _json(event)
    if channel is not None:
        text += ',"channel":' + _json(channel)
    text += ',"data":' + data
    if user_id is not None:
        text += ',"user_id":' + _json(user_id)
    if serial is not None:
        # Stream ids are hex digits the brokers mint: nothing to escape.
        text += ',"serial":' + str(serial) + ',"stream_id":"' + str(stream_id) + '"'
    return text + "}"


def encode_connection_established(socket_id: str, activity_timeout: int) -> str:
    """``pusher:connection_established``; ``data`` is a JSON-encoded string."""
    inner = _json({"socket_id": socket_id, "activity_timeout": activity_timeout})
    return encode_event("pusher:connection_established", None, _json(inner))


def encode_error(message: str, code: int | None) -> str:
    """``pusher:error`` with ``data`` ``{"code": code, "message": message}`` (code may be null)."""
    return _json({"event": "pusher:error", "data": {"code": code, "message": message}})


def encode_subscription_succeeded(
    channel: str,
    members: Mapping[str, Any] | None,
    position: tuple[int, str] | None = None,
    recovered: bool | None = None,
) -> str:
    """``pusher_internal:subscription_succeeded``.

    Args:
        channel: the channel subscribed to.
        members: for presence channels, user id -> user info of every member (the new one
            included); ``None`` for other channels.
        position: ``(serial, stream_id)`` of a channel that keeps history: top-level, and
            inside ``data`` on non-presence channels.
        recovered: whether a requested recovery replayed what was missed (``None``: none
            was requested); top-level, and inside ``data`` on non-presence channels.
    """
    extra: dict[str, Any] = {}
    if position is not None:
        extra["serial"], extra["stream_id"] = position
    if recovered is not None:
        extra["recovered"] = recovered
    if members is None:
        data = _json(_json(extra)) if extra else '"{}"'
    else:
        presence = {"ids": list(members), "hash": dict(members), "count": len(members)}
        data = _json(_json({"presence": presence}))
    text = encode_event("pusher_internal:subscription_succeeded", channel, data)
    if not extra:
        return text
    return text[:-1] + "," + _json(extra)[1:]


def encode_subscription_error(channel: str, kind: str, error: str, status: int) -> str:
    """``pusher:subscription_error`` with ``data`` ``{"type", "error", "status"}``.

    The channel is echoed as the client sent it, cut to ``MAX_ECHO`` (200) characters:
    no valid name is longer, and 100 KB of name in must not be 100 KB out.
    """
    data = {"type": kind, "error": error, "status": status}
    reply = {"event": "pusher:subscription_error", "channel": channel[:MAX_ECHO], "data": data}
    return _json(reply)


def member_added_data(user_id: str, user_info: Any) -> str:
    """The JSON text of a ``member_added`` data value: a string holding the member's JSON."""
    return _json(_json({"user_id": user_id, "user_info": user_info}))


def member_removed_data(user_id: str) -> str:
    """The JSON text of a ``member_removed`` data value: a string holding ``{"user_id"}``."""
    return _json(_json({"user_id": user_id}))


def encode_member_added(channel: str, user_id: str, user_info: Any) -> str:
    """``pusher_internal:member_added``; ``data`` is a JSON-encoded string."""
    data = member_added_data(user_id, user_info)
    return encode_event("pusher_internal:member_added", channel, data)


def encode_member_removed(channel: str, user_id: str) -> str:
    """``pusher_internal:member_removed``; ``data`` is a JSON-encoded string."""
    return encode_event("pusher_internal:member_removed", channel, member_removed_data(user_id))


def encode_pong() -> str:
    """``pusher:pong`` (the answer to a client's ``pusher:ping``)."""
    return _PONG


def encode_ping() -> str:
    """``pusher:ping`` (the server's keepalive probe; pusher-js answers with a pong)."""
    return _PING


def encode_cache_miss(channel: str) -> str:
    """``pusher:cache_miss``: a cache channel had no stored event to replay."""
    return _json({"event": "pusher:cache_miss", "channel": channel})


def encode_signin_success(user_data: str) -> str:
    """``pusher:signin_success`` echoing the signed ``user_data`` string."""
    return _json({"event": "pusher:signin_success", "data": {"user_data": user_data}})


def subscription_count_data(count: int) -> str:
    """The JSON text of a ``subscription_count`` data value: a string holding the count's JSON."""
    return _json(_json({"subscription_count": count}))


def encode_watchlist_events(name: str, user_ids: Sequence[str]) -> str:
    """``pusher_internal:watchlist_events`` (no channel); ``data`` is a JSON-encoded string
    holding ``{"events": [{"name": "online"|"offline", "user_ids": [...]}]}``."""
    events = {"events": [{"name": name, "user_ids": list(user_ids)}]}
    return encode_event("pusher_internal:watchlist_events", None, _json(_json(events)))


def encode_subscription_count(channel: str, count: int) -> str:
    """``pusher_internal:subscription_count``; ``data`` is a JSON-encoded string."""
    return encode_event(
        "pusher_internal:subscription_count", channel, subscription_count_data(count)
    )


def parse_protocol_version(value: str | None) -> int:
    """Check the ``protocol`` query parameter of a connection.

    Args:
        value: the raw parameter, or ``None`` when absent.

    Returns:
        The version, one of :data:`SUPPORTED_PROTOCOL_VERSIONS`.

    Raises:
        ConnectionRejected: 4008 when missing, 4006 when not an integer, 4007 when the
            version is not supported.
    """
    if value is None or value == "":
        raise ConnectionRejected(
            "No protocol version supplied",
            code=4008,
            hint="add ?protocol=7 to the WebSocket URL (pusher-js does this itself)",
        )
    if not value.isascii() or not value.isdigit():
        raise ConnectionRejected(
            f"Invalid version string format: protocol={value[:20]!r} is not an integer",
            code=4006,
            hint="use ?protocol=7",
        )
    # Bound the length first: int() of a huge digit string is slow and may raise.
    version = int(value) if len(value) <= 4 else -1
    if version not in SUPPORTED_PROTOCOL_VERSIONS:
        raise ConnectionRejected(
            f"Unsupported protocol version {value[:20]}; this server speaks 5, 6 and 7",
            code=4007,
            hint="use ?protocol=7",
        )
    return version
