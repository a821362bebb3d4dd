"""PieSocket's v3 API as a wire: ``GET /v3/{channel}``.

A v3 connection is on exactly one channel, fixed by its URL, shared with Pusher
connections (v3 channel ``c`` is hub channel ``c``). Two encodings: presence
members get ``system:member_joined``/``member_left`` with the whole member list
(encoded once per channel from the node's roster); other v3 connections get
only events.

v3 has no application-level ping, so liveness uses WebSocket ping frames: a
client silent for ``activity_timeout`` gets a ping, and one that does not
answer within another ``activity_timeout`` is closed (4201, as for Pusher).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tidings.apps.base import App, session_arguments
from tidings.domain.messages import MemberJoined, MemberLeft, Message, Publication
from tidings.protocol.frames import PING_FRAME, text_frame
from tidings.protocol.piesocket.codec import encode_error, encode_member_event, publication_text
from tidings.protocol.piesocket.session import V3Session, open_session
from tidings.protocol.session import WireSession
from tidings.wires.base import Encoder, Handshake

__all__ = ["PIESOCKET", "PIESOCKET_MEMBERS", "PieSocketWire", "piesocket_frame", "member_frame"]

PIESOCKET: Final = "piesocket"
PIESOCKET_MEMBERS: Final = "piesocket-members"


def piesocket_frame(message: Message) -> bytes | None:
    """The v3 frame of an event for every v3 connection; ``None`` for anything else."""
    if type(message) is not Publication:
        return None
    text = publication_text(message.event, message.data, message.meta)
    return text_frame(text) if text is not None else None


def member_frame(message: Message) -> bytes | None:
    """The v3 frame for a presence member: events, and member changes with the member list."""
    match message:
        case MemberJoined(members=members) if members is not None:
            return text_frame(encode_member_event(True, message.user_id, message.info, members))
        case MemberLeft(members=members) if members is not None:
            return text_frame(encode_member_event(False, message.user_id, message.info, members))
    return piesocket_frame(message)


class PieSocketWire:
    """piesocket-js and raw v3 clients on ``/v3/{channel}``."""

    name = PIESOCKET
    path = "/v3/{channel}"
    key_name = "api_key"
    key_hint = "pass the app key as api_key (PieSocket's apiKey)"
    encoders: Mapping[str, Encoder] = {PIESOCKET: piesocket_frame, PIESOCKET_MEMBERS: member_frame}

    def app_key(self, handshake: Handshake) -> str:
        """The ``api_key`` query parameter."""
        return handshake.query.get("api_key", "")

    def open_session(
        self, handshake: Handshake, app: App, socket_id: str, activity_timeout: int
    ) -> WireSession:
        """A v3 session, after the channel, flags and token of the request are checked.

        Raises:
            ConnectionRejected: 4005 for a bad channel or flag, 4009 for a bad token.
        """
        # The app fields the session takes are named in App's metadata (piesocket=).
        return open_session(
            handshake.params["channel"],
            handshake.query,
            jwt_header=handshake.headers.get("jwt"),
            socket_id=socket_id,
            now=handshake.now,
            **session_arguments(app, "piesocket"),
        )

    def app_changed(self, session: WireSession, app: App) -> None:
        """Nothing to apply: a v3 session's token was checked at connect, and its
        flags and limits stay those of its connect until it reconnects."""

    def encoding(self, session: WireSession) -> str:
        """Presence members see member changes; other v3 connections do not."""
        assert isinstance(session, V3Session)
        return PIESOCKET_MEMBERS if session.params.presence else PIESOCKET

    def error_text(self, code: int, reason: str) -> str | None:
        """``{"error": reason}``: piesocket-js stops reconnecting on it."""
        return encode_error(reason)

    def ping_frame(self, session: WireSession) -> bytes:
        """A WebSocket ping frame (v3 has no application ping)."""
        return PING_FRAME
