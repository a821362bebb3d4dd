"""PieSocket v3 wire format: ``{"event", "data", "meta"}`` messages and ``{"error"}`` replies.

Decisions (piesocket-js 5.1.0's source checked; it is what real apps run):

- Channel ids are 1-30 characters of ``[A-Za-z0-9_-]`` (PieSocket's rule). They map to
  the hub channel of the same name, so v3 channel ``c`` is Pusher channel ``c``.
- Every server message is a JSON object. Errors are ``{"error": "..."}``: piesocket-js
  stops reconnecting when a message has a non-empty ``error``.
- Presence events carry the full member list in ``data.members`` (piesocket-js replaces
  ``channel.members`` with it on ``member_list``, ``member_joined`` and ``member_left``)
  and the member concerned in ``data.member``. A member is ``{"uuid", "user"}`` plus
  ``user_info`` when a Pusher presence client brought one.
- ``{"event":"system:boot"}`` (nothing else) is the first message of an accepted connection,
  sent once its channel is joined: PieSocket's Flutter and Android SDKs report the channel
  connected (``system:connected``) only when it arrives, not on the WebSocket's open.
  piesocket-js ignores it (it fires its ``connected`` event on open), except that a ``*``
  listener sees it, as it would on PieSocket.
- Publications from the Pusher side have no ``meta``; their ``data`` is the string the
  HTTP API carried. Like pusher-js, a string holding a JSON object or array reaches v3
  clients decoded; anything else is passed as it is. v3 messages keep their data as sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.errors import MessageError

__all__ = [
    "BOOT",
    "CHANNEL_PATTERN",
    "ClientMessage",
    "PresenceChange",
    "RESERVED_PREFIXES",
    "channel_problem",
    "decode_client_message",
    "encode_error",
    "encode_member_event",
    "encode_member_list",
    "encode_message",
    "member_view",
    "presence_change",
    "publication_text",
]

#: The first message of an accepted v3 connection (see the module's decisions).
BOOT = '{"event":"system:boot"}'
CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,30}")
RESERVED_PREFIXES = ("system:", "pusher:", "pusher_internal:")
_MEMBER_ADDED = "pusher_internal:member_added"
_MEMBER_REMOVED = "pusher_internal:member_removed"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def channel_problem(channel: str) -> str | None:
    """Why ``channel`` is not a valid PieSocket channel id, or ``None`` when it is."""
    if CHANNEL_PATTERN.fullmatch(channel):
        return None
    return (
        f"Invalid channel id {channel[:60]!r}: use 1-30 characters of letters, digits, '-' and '_'"
    )


def encode_error(message: str) -> str:
    """``{"error": message}``: PieSocket's error reply."""
    return _json({"error": message})


def encode_message(event: str, data_json: str, meta_json: str) -> str:
    """``{"event":…,"data":<data>,"meta":<meta>}`` with the JSON texts inserted verbatim."""
    return '{"event":' + _json(event) + ',"data":' + data_json + ',"meta":' + meta_json + "}"


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A message a v3 client published: event name plus the JSON texts of data and meta."""

    event: str
    data: str
    meta: str


def decode_client_message(text: str, *, max_bytes: int) -> ClientMessage:
    """Parse and check one text frame from a v3 client.

    Raises:
        MessageError: not JSON, not an object, no string ``event``, a reserved event
            name or more than ``max_bytes`` UTF-8 bytes; the message says how to fix it.
    """
    size = len(text.encode())
    if size > max_bytes:
        raise MessageError(
            f"Message too large: {size} bytes, the limit is {max_bytes}",
            hint="send smaller messages or raise the app's max_client_event_bytes",
        )
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise MessageError(
            'Message is not valid JSON: send {"event": "name", "data": ..., "meta": ...}'
        ) from None
    if not isinstance(value, dict):
        raise MessageError('Message must be a JSON object: {"event": "name", "data": ...}')
    event = value.get("event")
    if not isinstance(event, str) or not event:
        raise MessageError('Message needs a non-empty string "event"')
    if event.startswith(RESERVED_PREFIXES):
        raise MessageError(
            f"Event name {event[:60]!r} is reserved: names starting with "
            f"{', '.join(RESERVED_PREFIXES)} are the server's"
        )
    return ClientMessage(event, _json(value.get("data")), _json(value.get("meta")))


def member_view(user_id: str, info: Any) -> dict[str, Any]:
    """A presence member as piesocket-js expects it: ``{"uuid", "user"[, "user_info"]}``.

    v3 members are stored with info ``{"uuid": ...}``; Pusher presence members have
    their signed ``user_info`` instead, and use their user id as uuid.
    """
    if isinstance(info, dict) and isinstance(info.get("uuid"), str):
        view: dict[str, Any] = {"uuid": info["uuid"], "user": user_id}
        if set(info) != {"uuid"}:
            view["user_info"] = {k: v for k, v in info.items() if k != "uuid"}
        return view
    view = {"uuid": user_id, "user": user_id}
    if info is not None:
        view["user_info"] = info
    return view


def _views(members: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [member_view(user_id, info) for user_id, info in members.items()]


def encode_member_list(members: Mapping[str, Any]) -> str:
    """``system:member_list`` with ``data.members``: sent to a presence client on join."""
    return _json({"event": "system:member_list", "data": {"members": _views(members)}})


def encode_member_event(joined: bool, user_id: str, info: Any, members: Mapping[str, Any]) -> str:
    """``system:member_joined``/``member_left`` with ``data.member`` and ``data.members``."""
    event = "system:member_joined" if joined else "system:member_left"
    data = {"member": member_view(user_id, info), "members": _views(members)}
    return _json({"event": event, "data": data})


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """A member joined (``joined``) or left a channel; ``info`` is ``None`` on leave."""

    joined: bool
    user_id: str
    info: Any = None


def presence_change(event: str, data: str) -> PresenceChange | None:
    """The member change a Pusher ``member_added``/``member_removed`` publication carries.

    ``data`` is the publication's JSON text: a string literal holding
    ``{"user_id", "user_info"}``. ``None`` for any other event or unreadable data.
    """
    if event not in (_MEMBER_ADDED, _MEMBER_REMOVED):
        return None
    try:
        inner = orjson.loads(data)
        member = orjson.loads(inner) if isinstance(inner, str) else inner
    except orjson.JSONDecodeError:
        return None
    if not isinstance(member, dict) or not isinstance(member.get("user_id"), str):
        return None
    if event == _MEMBER_ADDED:
        return PresenceChange(True, member["user_id"], member.get("user_info"))
    return PresenceChange(False, member["user_id"])


def publication_text(event: str, data: str, meta: str | None) -> str | None:
    """The v3 message for a publication, or ``None`` for events v3 clients never see.

    Args:
        event: the event name; ``pusher:``/``pusher_internal:`` events are not relayed.
        data: the JSON text of the data value.
        meta: the JSON text of ``meta`` for v3-origin publications, ``None`` for Pusher ones.
    """
    if event.startswith(("pusher:", "pusher_internal:")):
        return None
    if meta is None:
        meta = "null"
        if data.startswith('"') and len(data) > 2 and data[1] in "{[":
            # A Pusher HTTP API string holding JSON: decoded, as pusher-js would.
            try:
                decoded = orjson.loads(orjson.loads(data))
            except orjson.JSONDecodeError:
                decoded = None
            if isinstance(decoded, dict | list):
                data = _json(decoded)
    return encode_message(event, data, meta)
