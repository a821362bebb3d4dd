"""One Pusher connection's protocol state, sans I/O.

The shell feeds client text with :meth:`PusherSession.receive_text`, then drains
:meth:`~PusherSession.commands_received` (what to do) and
:meth:`~PusherSession.data_to_send` (text frames to write). Client input never raises:
every rejection becomes a queued frame, plus a ``Close`` command when the connection must
end. Channel states follow the rules in :mod:`tidings.protocol.pusher.states`.

Decisions (Pusher protocol docs, pusher-js 8 and Soketi checked; Pusher wins on the wire);
the checks of each request live beside their own decisions:
:mod:`~tidings.protocol.pusher.subscriptions` (``pusher:subscribe``, auth, presence),
:mod:`~tidings.protocol.pusher.signin` (``pusher:signin``, watchlists) and
:mod:`~tidings.protocol.pusher.client_events` (``client-*`` events, their rate limit).

- Malformed frames (not JSON, not an object, no string ``event``), unknown ``pusher:*`` /
  ``pusher_internal:*`` events, other non-``client-`` events and binary frames get a
  ``pusher:error`` with ``code: null`` and the connection stays open (Pusher's own
  code-less errors; the 4300-4399 range means "connection stays open").
- ``data`` of ``pusher:subscribe`` / ``unsubscribe`` / ``signin`` must be an object; a
  JSON-encoded object string is accepted too, as some older clients double-encode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Final

from tidings.domain.messages import Publication
from tidings.errors import MessageError, SubscriptionError
from tidings.protocol.commands import ClientEvent, Close, Command, Refusal, Unsubscribe
from tidings.protocol.pusher import codec
from tidings.protocol.pusher.client_events import check_client_event, rate_limited
from tidings.protocol.pusher.credentials import data_object
from tidings.protocol.pusher.policy import SessionPolicy
from tidings.protocol.pusher.signin import MAX_WATCHLIST, UNAUTHORIZED, verify_signin
from tidings.protocol.pusher.states import PENDING, SUBSCRIBED, ChannelState
from tidings.protocol.pusher.subscriptions import authorise
from tidings.protocol.ratelimit import TokenBucket

# MAX_WATCHLIST and SessionPolicy live beside the checks that use them; callers import
# them from here, the session's public surface.
__all__ = ["MAX_WATCHLIST", "PusherSession", "SessionPolicy"]


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
        position: tuple[int, str] | None = None,
        recovered: bool | None = None,
    ) -> None:
        """The shell joined ``channel``: queue ``subscription_succeeded``.

        Args:
            channel: the channel of a ``Subscribe`` command.
            members: for presence channels, user id -> user info of every member.
            cached: a cache channel's last event, sent right after the confirmation.
            cache_miss: a cache channel without one: ``pusher:cache_miss`` follows.
            position: ``(serial, stream_id)`` of a channel that keeps history.
            recovered: the outcome of a requested recovery (``None``: none asked).
        """
        if channel not in self._states:
            return  # the client unsubscribed meanwhile: nothing to confirm
        self._states[channel] = SUBSCRIBED
        self._outgoing.append(
            codec.encode_subscription_succeeded(channel, members, position, recovered)
        )
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
            command = authorise(
                channel,
                data,
                socket_id=self.socket_id,
                policy=self.policy,
                known=self._states,
                signed_in_as=self._user_id,
            )
        except SubscriptionError as exc:
            self._outgoing.append(
                codec.encode_subscription_error(channel, exc.kind, exc.message, exc.status)
            )
            self._refusals.append(Refusal(exc.message, channel=channel))
            return
        self._states[channel] = PENDING
        self._user_ids[channel] = command.user_id
        if "position" in data:
            command = replace(command, position=self._position(channel, data["position"]))
            if command.position is None:
                del self._states[channel]
                del self._user_ids[channel]
                return
        self._commands.append(command)

    def _position(self, channel: str, value: object) -> tuple[int, str] | None:
        """``data.position``, or ``None`` after queueing the ``subscription_error`` it earns."""
        try:
            return codec.parse_position(value)
        except SubscriptionError as exc:
            self._outgoing.append(
                codec.encode_subscription_error(channel, exc.kind, exc.message, exc.status)
            )
            self._refusals.append(Refusal(exc.message, channel=channel))
            return None

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
        command, user_data = verify_signin(
            message, socket_id=self.socket_id, policy=self.policy, signed_in_as=self._user_id
        )
        self._user_id = command.user_id
        self._outgoing.append(codec.encode_signin_success(user_data))
        self._commands.append(command)

    def _on_client_event(self, message: codec.IncomingMessage) -> None:
        subscribed = self._states.get(message.channel or "") is SUBSCRIBED
        channel, data = check_client_event(message, self.policy, subscribed=subscribed)
        bucket = self._client_events
        if bucket is None:
            bucket = self._client_events = TokenBucket(
                self.policy.max_client_events_per_second, self._clock
            )
        if not bucket.allow():  # only events that pass every other check count
            raise rate_limited(bucket.rate)
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
