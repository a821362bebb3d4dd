"""One Pusher connection's protocol state, sans I/O.

The shell feeds client text with :meth:`PusherSession.receive_text`, then drains
:meth:`~PusherSession.commands_received` (what to do) and
:meth:`~PusherSession.data_to_send` (text frames to write). Client input never raises:
every rejection becomes a queued frame, plus a ``Close`` command when the connection must
end. Channel states follow the rules in :mod:`tidings.protocol.pusher.states`.

Decisions (Pusher protocol docs, pusher-js 8 and Soketi checked; Pusher wins on the wire):

- Malformed frames (not JSON, not an object, no string ``event``), unknown ``pusher:*`` /
  ``pusher_internal:*`` events, other non-``client-`` events and binary frames get a
  ``pusher:error`` with ``code: null`` and the connection stays open (Pusher's own
  code-less errors; the 4300-4399 range means "connection stays open").
- ``data`` of ``pusher:subscribe`` / ``unsubscribe`` / ``signin`` must be an object; a
  JSON-encoded object string is accepted too, as some older clients double-encode.
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
- ``pusher:signin`` failures of any kind answer ``pusher:error`` 4009 and close with 4009
  (Pusher closes unauthorised sign-ins). Signing in again as the same user succeeds again;
  as another user it fails (the docs: "It fails if the connection is already associated
  with a different user id"). The user ``id`` must be a string of at most 200
  characters of ``[-a-zA-Z0-9_=@,.;]`` (the PyPI SDK's ``validate_user_id``; pusher-js
  wants a non-empty string). ``user_data.watchlist``, when present, must be a list of
  at most :data:`MAX_WATCHLIST` (100) valid user ids, else the sign-in fails (4009):
  ``SignIn`` carries it deduplicated and the core sends the watchlist events.
- ``#server-to-user-{id}`` (pusher-js subscribes to it after ``signin_success``)
  needs no ``auth``: only a connection signed in as ``id`` may subscribe; others
  get ``subscription_error`` ``AuthError``/403 saying why.
- Client events: rejections use code 4301 (Soketi; the 4300-4399 range keeps the
  connection open). They are refused on public and ``private-encrypted-`` channels, on
  channels not yet SUBSCRIBED, with names over the limit and with data over the limit.
  ``data`` is re-serialised compactly with orjson whatever its type, so a string stays a
  string and an object an object for receivers, exactly as the sender sent it; the size
  limit applies to that JSON text (UTF-8 bytes). A missing ``data`` relays as ``null``.
  Each connection may send ``max_client_events_per_second`` of them (Pusher's 10 by
  default, bursts of as many); more get 4301 and are dropped. Only events that pass every
  other check count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import orjson

from tidings.domain.channels import (
    ChannelKind,
    channel_kind,
    server_to_user_channel,
    server_to_user_id,
    user_id_problem,
    validate_channel_name,
)
from tidings.domain.messages import Publication
from tidings.errors import MessageError, SubscriptionError
from tidings.protocol import signing
from tidings.protocol.commands import (
    ClientEvent,
    Close,
    Command,
    Refusal,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from tidings.protocol.pusher import codec
from tidings.protocol.pusher.credentials import (
    data_object,
    presence_member,
    signature_problem,
)
from tidings.protocol.pusher.states import PENDING, SUBSCRIBED, ChannelState
from tidings.protocol.ratelimit import TokenBucket

__all__ = ["MAX_WATCHLIST", "PusherSession", "SessionPolicy"]

CLIENT_EVENT_REJECTED: Final = 4301
UNAUTHORIZED: Final = 4009
MAX_WATCHLIST: Final = 100  # user ids in one user_data.watchlist


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """An app's credentials, flags and limits as one session needs them (built by the shell)."""

    key: str
    secret: str = field(repr=False)
    client_events: bool
    # Verifies too, during a rotation's grace period.
    previous_secret: str | None = field(default=None, repr=False)
    max_client_event_bytes: int = 10 * 1024
    max_subscriptions: int = 300
    max_member_info_bytes: int = 2048
    max_event_name_length: int = 200
    max_presence_members: int = 100  # enforced by the core, carried here for messages
    max_client_events_per_second: int = 10  # 0: no limit

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets a signature may be made with: the current one, then the previous."""
        if self.previous_secret is None:
            return (self.secret,)
        return (self.secret, self.previous_secret)


class PusherSession:
    """One connection's protocol state: ``receive_text`` -> commands and frames to send.

    After each ``receive_*`` call (and after :meth:`start`, :meth:`subscribed`,
    :meth:`subscription_refused`, :meth:`cache_miss`, :meth:`ping`) you must call
    :meth:`commands_received` and act on each command in order, then call
    :meth:`data_to_send` and write every frame. Each ``Subscribe`` command must be
    answered with :meth:`subscribed` or :meth:`subscription_refused`.

    Args:
        socket_id: this connection's ``socket_id`` (minted by the shell).
        policy: the app's credentials, flags and limits.
        activity_timeout: seconds, announced in ``pusher:connection_established``.
        clock: a monotonic clock in seconds, for the client-event rate limit.
    """

    # One session per connection: slots keep the per-connection footprint small.
    __slots__ = (
        "_client_events",
        "_clock",
        "_closing",
        "_commands",
        "_outgoing",
        "_refusals",
        "_states",
        "_user_id",
        "_user_ids",
        "activity_timeout",
        "policy",
        "socket_id",
    )

    def __init__(
        self,
        socket_id: str,
        policy: SessionPolicy,
        *,
        activity_timeout: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.socket_id = socket_id
        self.policy = policy
        self.activity_timeout = activity_timeout
        self._commands: list[Command] = []
        self._outgoing: list[str] = []
        self._refusals: list[Refusal] = []
        self._states: dict[str, ChannelState] = {}
        self._user_ids: dict[str, str | None] = {}
        self._user_id: str | None = None
        self._closing = False
        self._clock = clock
        self._client_events: TokenBucket | None = None  # made on the first client event

    # -- shell-facing API ------------------------------------------------------------------

    @property
    def channels(self) -> Mapping[str, str | None]:
        """Subscribed or pending channel -> presence user id (``None`` elsewhere); read-only."""
        return MappingProxyType(self._user_ids)

    @property
    def user_id(self) -> str | None:
        """The user this connection signed in as with ``pusher:signin``, or ``None``."""
        return self._user_id

    def start(self) -> None:
        """Queue ``pusher:connection_established``; call once, right after the handshake."""
        frame = codec.encode_connection_established(self.socket_id, self.activity_timeout)
        self._outgoing.append(frame)

    def receive_text(self, text: str) -> None:
        """Handle one client text message. Never raises for client input.

        Input received after a ``Close`` command was emitted is ignored.
        """
        if self._closing:
            return
        try:
            message = codec.decode(text)
            if message.event.startswith("client-"):
                self._on_client_event(message)
                return
            handler = _HANDLERS.get(message.event)
            if handler is None:
                raise MessageError(_unknown_event_problem(message.event))
            handler(self, message)
        except MessageError as exc:
            self._reject(exc)

    def receive_binary(self, data: bytes) -> None:
        """Handle a binary message: Pusher is text-only, so queue a ``pusher:error``."""
        if self._closing:
            return
        self._reject(
            MessageError(
                f"binary WebSocket messages are not supported (got {len(data)} bytes); "
                "send each Pusher message as a JSON text message"
            )
        )

    def commands_received(self) -> list[Command]:
        """Return and clear the commands emitted since the last call."""
        commands, self._commands = self._commands, []
        return commands

    def data_to_send(self) -> list[str]:
        """Return and clear the text frames queued since the last call."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def refusals_sent(self) -> list[Refusal]:
        """Return and clear what the client was refused since the last call (errors, auth)."""
        refusals = self._refusals
        if refusals:
            self._refusals = []
        return refusals

    def subscribed(
        self,
        channel: str,
        members: Mapping[str, Any] | None = None,
        cached: Publication | None = None,
        cache_miss: bool = False,
    ) -> None:
        """The shell joined ``channel``: queue ``subscription_succeeded``.

        Args:
            channel: the channel of a ``Subscribe`` command.
            members: for presence channels, user id -> user info of every member.
            cached: a cache channel's last event, sent right after the confirmation.
            cache_miss: a cache channel without one: ``pusher:cache_miss`` follows.
        """
        if channel not in self._states:
            return  # the client unsubscribed meanwhile: nothing to confirm
        self._states[channel] = SUBSCRIBED
        self._outgoing.append(codec.encode_subscription_succeeded(channel, members))
        if cached is not None:
            self._outgoing.append(
                codec.encode_event(cached.event, cached.channel, cached.data, cached.user_id)
            )
        elif cache_miss:
            self.cache_miss(channel)

    def subscription_refused(self, channel: str, error: SubscriptionError) -> None:
        """The shell or core refused ``channel``: forget it and queue ``subscription_error``."""
        if channel not in self._states:
            return
        del self._states[channel]
        del self._user_ids[channel]
        self._outgoing.append(
            codec.encode_subscription_error(channel, error.kind, error.message, error.status)
        )

    def cache_miss(self, channel: str) -> None:
        """Queue ``pusher:cache_miss`` for a cache channel with nothing stored."""
        self._outgoing.append(codec.encode_cache_miss(channel))

    def ping(self) -> None:
        """Queue a server ``pusher:ping`` (called by the shell's keepalive timer)."""
        self._outgoing.append(codec.encode_ping())

    # -- handlers --------------------------------------------------------------------------

    def _reject(self, exc: MessageError) -> None:
        self._outgoing.append(codec.encode_error(exc.message, exc.pusher_code))
        self._refusals.append(Refusal(exc.message, exc.pusher_code))
        if exc.close:
            self._closing = True
            # A close reason is at most 123 bytes: cut on bytes, drop a split character.
            reason = exc.message.encode()[:123].decode(errors="ignore")
            self._commands.append(Close(exc.pusher_code or UNAUTHORIZED, reason))

    def _on_ping(self, message: codec.IncomingMessage) -> None:
        self._outgoing.append(codec.encode_pong())

    def _on_pong(self, message: codec.IncomingMessage) -> None:
        pass  # any message proves the client alive; the shell tracks activity

    def _on_subscribe(self, message: codec.IncomingMessage) -> None:
        data = data_object(message, '{"channel":"my-channel"}')
        channel = data.get("channel")
        if not isinstance(channel, str) or not channel:
            raise MessageError(
                'pusher:subscribe needs "data.channel", a non-empty channel name string'
            )
        try:
            command = self._authorise(channel, data)
        except SubscriptionError as exc:
            self._outgoing.append(
                codec.encode_subscription_error(channel, exc.kind, exc.message, exc.status)
            )
            self._refusals.append(Refusal(exc.message, channel=channel))
            return
        self._states[channel] = PENDING
        self._user_ids[channel] = command.user_id
        self._commands.append(command)

    def _authorise(self, channel: str, data: Mapping[str, object]) -> Subscribe:
        """Validate a subscribe request; raise ``SubscriptionError`` when refused."""
        validate_channel_name(channel)
        limit = self.policy.max_subscriptions
        if channel not in self._states and len(self._states) >= limit:
            raise SubscriptionError(
                f"this connection is already subscribed to {limit} channels, the limit; "
                "unsubscribe from some first",
                kind="LimitReached",
                status=400,
            )
        kind = channel_kind(channel)
        if kind is ChannelKind.SERVER_TO_USER:
            self._check_own_channel(channel)
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
        to_sign = f"{self.socket_id}:{channel}" + (f":{channel_data}" if channel_data else "")
        policy = self.policy
        expected = [
            signing.channel_auth(policy.key, secret, self.socket_id, channel, channel_data or None)
            for secret in policy.secrets
        ]
        problem = signature_problem(self.policy.key, data.get("auth"), expected, to_sign)
        if problem is not None:
            raise SubscriptionError(f"{problem} (channel {channel!r})")
        if kind is not ChannelKind.PRESENCE:
            return Subscribe(channel)
        assert channel_data  # checked above; narrows for mypy
        user_id, user_info = presence_member(channel_data, self.policy.max_member_info_bytes)
        return Subscribe(channel, user_id, user_info)

    def _check_own_channel(self, channel: str) -> None:
        """Refuse ``#server-to-user-{id}`` unless this connection signed in as ``id``."""
        owner = server_to_user_id(channel)
        if self._user_id is None:
            raise SubscriptionError(
                f"{channel[:80]!r} is a user's own channel: sign in first "
                "(pusher.signin()); pusher-js subscribes to it by itself after "
                "pusher:signin_success",
                status=403,
            )
        if owner != self._user_id:
            raise SubscriptionError(
                f"{channel[:80]!r} belongs to another user: this connection is signed in "
                f"as {self._user_id!r} and may subscribe only to "
                f"{server_to_user_channel(self._user_id)!r}",
                status=403,
            )

    def _on_unsubscribe(self, message: codec.IncomingMessage) -> None:
        data = data_object(message, '{"channel":"my-channel"}')
        channel = data.get("channel")
        if not isinstance(channel, str):
            raise MessageError('pusher:unsubscribe needs "data.channel", a channel name string')
        if channel not in self._states:
            return  # not subscribed: nothing to leave (Pusher ignores it too)
        del self._states[channel]
        self._commands.append(Unsubscribe(channel, self._user_ids.pop(channel)))

    def _on_signin(self, message: codec.IncomingMessage) -> None:
        try:
            data = data_object(message, '{"auth":"...","user_data":"..."}')
        except MessageError as exc:
            raise _signin_error(exc.message) from exc
        user_data = data.get("user_data")
        if not isinstance(user_data, str) or not user_data:
            raise _signin_error('pusher:signin needs "data.user_data", a JSON string')
        policy = self.policy
        expected = [
            signing.user_auth(policy.key, secret, self.socket_id, user_data)
            for secret in policy.secrets
        ]
        to_sign = f"{self.socket_id}::user::{user_data}"
        problem = signature_problem(self.policy.key, data.get("auth"), expected, to_sign)
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
        if self._user_id is not None and self._user_id != user_id:
            raise _signin_error(
                f"this connection is already signed in as {self._user_id!r}; "
                "open a new connection to sign in as another user"
            )
        self._user_id = user_id
        self._outgoing.append(codec.encode_signin_success(user_data))
        self._commands.append(SignIn(user_id, user.get("user_info"), watchlist))

    def _on_client_event(self, message: codec.IncomingMessage) -> None:
        policy = self.policy
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
        if self._states.get(channel) is not SUBSCRIBED:
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
        bucket = self._client_events
        if bucket is None:
            bucket = self._client_events = TokenBucket(
                policy.max_client_events_per_second, self._clock
            )
        if not bucket.allow():
            raise _client_event_error(
                f"Client event rejected due to rate limit: at most {bucket.rate} client events "
                "per second per connection; send fewer (throttle typing indicators and the "
                "like) or raise max_client_events_per_second for the app"
            )
        self._commands.append(
            ClientEvent(channel, message.event, data.decode(), self._user_ids[channel])
        )


# The client events a session handles, besides ``client-*``; shared by all sessions.
_HANDLERS: Final[dict[str, Callable[[PusherSession, codec.IncomingMessage], None]]] = {
    "pusher:ping": PusherSession._on_ping,
    "pusher:pong": PusherSession._on_pong,
    "pusher:subscribe": PusherSession._on_subscribe,
    "pusher:unsubscribe": PusherSession._on_unsubscribe,
    "pusher:signin": PusherSession._on_signin,
}


def _unknown_event_problem(event: str) -> str:
    if event.startswith(("pusher:", "pusher_internal:")):
        return (
            f"unknown event {event[:60]!r}: clients may send pusher:ping, pusher:pong, "
            "pusher:subscribe, pusher:unsubscribe, pusher:signin and client-* events"
        )
    return (
        f"event {event[:60]!r} cannot be sent by a client: client events must start with "
        "'client-' (publish other events through the HTTP API)"
    )


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


def _client_event_error(problem: str) -> MessageError:
    return MessageError(problem, code=CLIENT_EVENT_REJECTED)
