"""The Pusher Channels protocol v7 as a wire: ``GET /app/{key}``.

Frames: every message is encoded once per publication for every Pusher
subscriber (``pusher_frame``). Messages a client sent reach Pusher subscribers
only as client events (``tidings.domain.channels.client_event_allowed``), so a
PieSocket client cannot forge what looks like the app's own event.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final

from tidings.apps.base import App, session_arguments
from tidings.domain.channels import client_event_allowed
from tidings.domain.messages import MemberJoined, MemberLeft, Message, Publication, WatchlistEvent
from tidings.protocol.frames import text_frame
from tidings.protocol.pusher import codec
from tidings.protocol.pusher.session import PusherSession, SessionPolicy
from tidings.protocol.session import WireSession
from tidings.wires.base import Encoder, Handshake

__all__ = ["PUSHER", "PusherWire", "pusher_frame", "session_policy"]

PUSHER: Final = "pusher"


def pusher_frame(message: Message) -> bytes | None:
    """The Pusher v7 frame for ``message``, the same bytes for every Pusher subscriber."""
    match message:
        case Publication():
            if message.from_client and not client_event_allowed(message.event, message.channel):
                return None
            text = codec.encode_event(
                message.event,
                message.channel,
                message.data,
                message.user_id,
                message.serial,
                message.stream_id,
            )
        case MemberJoined():
            text = codec.encode_member_added(message.channel, message.user_id, message.info)
        case MemberLeft():
            text = codec.encode_member_removed(message.channel, message.user_id)
        case WatchlistEvent():
            text = codec.encode_watchlist_events(message.name, message.user_ids)
        case _:
            text = codec.encode_subscription_count(message.channel, message.count)
    return text_frame(text)


@functools.lru_cache(maxsize=1024)
def session_policy(app: App) -> SessionPolicy:
    """The session's view of an app's flags and limits (one object per app, shared).

    Which fields it takes is stated once, in ``App``'s field metadata (``policy=``).
    """
    return SessionPolicy(**session_arguments(app, "policy"))


class PusherWire:
    """pusher-js, Laravel Echo, the Pusher mobile SDKs: protocol v7 on ``/app/{key}``."""

    name = PUSHER
    path = "/app/{key}"
    key_name = "app key"
    key_hint = "check the key passed to new Pusher(key, ...)"
    encoders: Mapping[str, Encoder] = {PUSHER: pusher_frame}

    def app_key(self, handshake: Handshake) -> str:
        """The key in the path, once the ``protocol`` version is one we speak.

        Raises:
            ConnectionRejected: 4006-4008 for a missing or unsupported version.
        """
        codec.parse_protocol_version(handshake.query.get("protocol"))
        return handshake.params["key"]

    def open_session(
        self, handshake: Handshake, app: App, socket_id: str, activity_timeout: int
    ) -> WireSession:
        """A Pusher session for ``app``."""
        return PusherSession(socket_id, session_policy(app), activity_timeout=activity_timeout)

    def encoding(self, session: WireSession) -> str:
        """Every Pusher connection gets the same frames."""
        return PUSHER

    def app_changed(self, session: WireSession, app: App) -> None:
        """New credentials, flags and limits from the next message on (a rotated
        secret stops verifying channel auth and sign-in at once)."""
        assert isinstance(session, PusherSession)
        session.policy = session_policy(app)

    def error_text(self, code: int, reason: str) -> str | None:
        """``pusher:error`` with the close code, before the close frame."""
        return codec.encode_error(reason, code)

    def ping_frame(self, session: WireSession) -> bytes:
        """A ``pusher:ping`` (the client answers ``pusher:pong``)."""
        return text_frame(codec.encode_ping())
