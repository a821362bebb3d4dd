"""One PieSocket v3 connection's protocol decisions, sans I/O.

:func:`open_session` turns the upgrade request (channel, query, ``jwt`` header) into a
:class:`V3Session` or a :class:`~tidings.errors.ConnectionRejected` with the close code.
The session has the shape of every wire session (``tidings.protocol.session``): it
starts with a ``Subscribe`` command for its one channel, then turns client frames into
``ClientEvent`` commands or queued ``{"error"}`` replies; client input never raises.

Decisions:

- ``api_key`` is the app key; unknown → 4001, disabled app → 4003 (Pusher's codes, as
  the hub is shared). A bad channel id → 4005. A bad or expired JWT → PieSocket's
  ``Authentication failed, provide valid jwt token.`` and 4009.
- ``private-*`` and ``presence-*`` channels need a valid JWT: they are Pusher's guarded
  channels on the same hub, so v3 must not be a way around Pusher's auth. A JWT given
  on any other channel is verified too.
- Presence is on with ``presence=1``/``true``, and always on ``presence-*`` channels.
  On a guarded channel the member's user id is the JWT's signed ``user`` claim and
  nothing else: Pusher clients see that member and the ``user_id`` of its client
  events, so ``&user=admin`` must not choose it. A presence member there without a
  ``user`` claim is refused (4009). On other channels it is the JWT's ``user``, else
  the ``user`` parameter, else the connection's ``uuid`` (anonymous connections are
  distinct members).
- ``notify_self`` defaults to off (piesocket-js sends ``0``): a sender does not get its
  own messages unless it asks.
- Once its channel is joined the connection is ready: ``{"event":"system:boot"}`` goes
  first (PieSocket's mobile SDKs wait for it), then the member list, then a cache
  channel's last event. A refused connection never gets it.
- Bad messages (not JSON, no ``event``, reserved names, too large, binary) get an
  ``{"error"}`` reply and the connection stays open.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tidings.domain.messages import Publication
from tidings.errors import AuthError, ConnectionRejected, MessageError, SubscriptionError
from tidings.protocol.commands import ClientEvent, Close, Command, Refusal, Subscribe
from tidings.protocol.piesocket.auth import AUTH_FAILED, TokenClaims, verify_token
from tidings.protocol.piesocket.codec import (
    BOOT,
    channel_problem,
    decode_client_message,
    encode_error,
    encode_member_list,
    publication_text,
)
from tidings.protocol.ratelimit import TokenBucket

__all__ = ["ConnectParams", "V3Session", "open_session", "parse_flag"]

#: The close code of a refused subscription (v3 has no subscription error message).
SUBSCRIPTION_REFUSED = 4100

_MAX_ID_CHARS = 128  # longest accepted ``user`` / ``uuid``
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off", "null", "undefined")
GUARDED_PREFIXES = ("private-", "presence-")


def parse_flag(name: str, value: str | None) -> bool:
    """A boolean query parameter: ``1``/``true`` or ``0``/``false`` (absent is false).

    Raises:
        ConnectionRejected: 4005 for any other value.
    """
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise ConnectionRejected(f"Invalid {name}={value[:20]!r}: use {name}=1 or {name}=0", code=4005)


@dataclass(frozen=True, slots=True)
class ConnectParams:
    """What a v3 connection asked for, after every check passed.

    Attributes:
        channel: the channel id (also the hub channel name).
        notify_self: whether the client receives its own messages.
        presence: whether the connection is a presence member.
        user: the presence user id (JWT ``user`` > ``user`` param > uuid).
        uuid: the client's per-connection id (piesocket-js sends one), else the socket id.
    """

    channel: str
    notify_self: bool
    presence: bool
    user: str
    uuid: str


def _short_id(name: str, value: str | None) -> str | None:
    if value is not None and not 0 < len(value) <= _MAX_ID_CHARS:
        raise ConnectionRejected(f"Invalid {name}: use 1-{_MAX_ID_CHARS} characters", code=4005)
    return value


def open_session(
    channel: str,
    query: Mapping[str, str],
    *,
    jwt_header: str | None,
    secret: str,
    socket_id: str,
    now: float,
    client_messages: bool,
    max_message_bytes: int,
    max_messages_per_second: int = 10,
    previous_secret: str | None = None,
) -> V3Session:
    """Check the upgrade request of an already-identified app; the session on success.

    Args:
        channel: the ``{channel}`` path segment.
        query: the query parameters (``api_key`` is checked by the caller).
        jwt_header: a ``jwt`` request header, used when the query has no ``jwt``.
        secret: the app secret tokens are signed with.
        previous_secret: a secret that verifies too (a rotation's grace period).
        socket_id: the server's id for this connection (the fallback uuid).
        now: Unix time, for token expiry.

    Raises:
        ConnectionRejected: the close code and the message the client must see.
    """
    problem = channel_problem(channel)
    if problem is not None:
        raise ConnectionRejected(problem, code=4005)
    notify_self = parse_flag("notify_self", query.get("notify_self"))
    presence = parse_flag("presence", query.get("presence")) or channel.startswith("presence-")
    user = _short_id("user", query.get("user") or None)
    uuid = _short_id("uuid", query.get("uuid") or None) or socket_id
    token = query.get("jwt") or jwt_header or None
    if token is None and channel.startswith(GUARDED_PREFIXES):
        raise ConnectionRejected(
            AUTH_FAILED,
            code=4009,
            hint=f"channel {channel} is private: pass jwt= signed with the app secret",
        )
    if token is not None:
        try:
            claims = _verify_any(token, (secret, previous_secret), channel=channel, now=now)
        except AuthError as exc:
            raise ConnectionRejected(exc.message, code=4009, hint=exc.hint) from None
        signed = _short_id("user", claims.user)
        if channel.startswith(GUARDED_PREFIXES):
            user = signed  # only the signed claim: never the query's user=
            if presence and user is None:
                raise ConnectionRejected(
                    AUTH_FAILED,
                    code=4009,
                    hint=f"presence on {channel} needs the user id in the token's user claim",
                )
        else:
            user = signed or user
    params = ConnectParams(channel, notify_self, presence, user or uuid, uuid)
    return V3Session(
        params,
        client_messages=client_messages,
        max_message_bytes=max_message_bytes,
        max_messages_per_second=max_messages_per_second,
    )


def _verify_any(
    token: str, secrets: tuple[str, str | None], *, channel: str, now: float
) -> TokenClaims:
    """The claims of ``token`` verified with the first secret that accepts it."""
    current, previous = secrets
    try:
        return verify_token(token, secret=current, channel=channel, now=now)
    except AuthError:
        if previous is None:
            raise
        return verify_token(token, secret=previous, channel=channel, now=now)


class V3Session:
    """One v3 client on its one channel: commands in, ``{"error"}`` replies out.

    Args:
        params: what the client asked for when it connected.
        client_messages: whether the app lets clients publish.
        max_message_bytes: the largest client message.
        max_messages_per_second: client messages one connection may publish per
            second (``0``: no limit); more get an error and are dropped.
        clock: a monotonic clock in seconds, for that limit.
    """

    __slots__ = (
        "_client_messages",
        "_commands",
        "_limit",
        "_max_bytes",
        "_out",
        "_refusals",
        "params",
    )

    def __init__(
        self,
        params: ConnectParams,
        *,
        client_messages: bool,
        max_message_bytes: int,
        max_messages_per_second: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self._client_messages = client_messages
        self._max_bytes = max_message_bytes
        self._limit = TokenBucket(max_messages_per_second, clock)
        self._out: list[str] = []
        self._commands: list[Command] = []
        self._refusals: list[Refusal] = []

    @property
    def channels(self) -> Mapping[str, str | None]:
        """The connection's one channel -> its presence user id (``None`` when not a member)."""
        params = self.params
        return {params.channel: params.user if params.presence else None}

    def start(self) -> None:
        """Queue the ``Subscribe`` of the connection's channel (as a member with ``presence``)."""
        params = self.params
        if params.presence:
            self._commands.append(Subscribe(params.channel, params.user, {"uuid": params.uuid}))
        else:
            self._commands.append(Subscribe(params.channel))

    def subscribed(
        self,
        channel: str,
        members: Mapping[str, Any] | None,
        cached: Publication | None = None,
        cache_miss: bool = False,
        position: tuple[int, str] | None = None,
        recovered: bool | None = None,
    ) -> None:
        """Queue ``system:boot`` (the connection is ready), then ``system:member_list`` for
        members, then a cache channel's last event.

        v3 has no place for a history position: ``position`` and ``recovered`` are ignored.
        """
        self._out.append(BOOT)
        if members is not None:
            self._out.append(encode_member_list(members))
        if cached is not None:
            text = publication_text(cached.event, cached.data, cached.meta)
            if text is not None:
                self._out.append(text)

    def subscription_refused(self, channel: str, error: SubscriptionError) -> None:
        """v3 has no subscription error: queue ``{"error"}``, then close with 4100."""
        self._out.append(encode_error(error.message))
        self._commands.append(Close(SUBSCRIPTION_REFUSED, error.message))

    def receive_text(self, text: str) -> None:
        """A text frame: a ``ClientEvent`` command, or an error reply queued."""
        if not self._client_messages:
            self._error("Client messages are disabled for this app: publish from your server")
            return
        try:
            message = decode_client_message(text, max_bytes=self._max_bytes)
        except MessageError as exc:
            self._error(exc.message)
            return
        if not self._limit.allow():
            self._error(
                f"Rate limit: at most {self._limit.rate} messages per second per connection; "
                "send fewer or raise max_client_events_per_second for the app"
            )
            return
        params = self.params
        self._commands.append(
            ClientEvent(
                params.channel,
                message.event,
                message.data,
                user_id=params.user if params.presence else None,
                meta=message.meta,
                echo=params.notify_self,
            )
        )

    def receive_binary(self, data: bytes) -> None:
        """A binary frame: refused with an error; the connection stays open."""
        self._error(
            f"Binary messages are not supported ({len(data)} bytes): send JSON text "
            '{"event": "name", "data": ..., "meta": ...}'
        )

    def refusals_sent(self) -> list[Refusal]:
        """Return and clear the errors the client was sent since the last call."""
        refusals = self._refusals
        if refusals:
            self._refusals = []
        return refusals

    def _error(self, message: str) -> None:
        self._out.append(encode_error(message))
        self._refusals.append(Refusal(message))

    def commands_received(self) -> list[Command]:
        """Return and clear the commands emitted since the last call."""
        commands, self._commands = self._commands, []
        return commands

    def data_to_send(self) -> list[str]:
        """The queued text replies, emptied."""
        out, self._out = self._out, []
        return out
