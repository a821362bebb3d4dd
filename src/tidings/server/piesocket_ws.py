"""The PieSocket v3 endpoint ``GET /v3/{channel}``: glue between socket, session and node.

A v3 connection is on exactly one channel, fixed by its URL. It shares the hub with
Pusher connections (channel ``c`` is the same channel for both) and the node's presence
store (one member set per channel, whatever protocol the members speak). Protocol
decisions live in ``tidings.protocol.piesocket``.

v3 has no application-level ping, so liveness uses WebSocket ping frames: a client silent
for ``activity_timeout`` gets a ping, and one that does not answer within another
``activity_timeout`` is closed (4201, as for Pusher clients).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from tidings.apps.base import App, session_arguments
from tidings.core.encoders import PresenceFrame, piesocket_frame
from tidings.core.model import Member, Publication, Wire
from tidings.errors import ConnectionRejected, SubscriptionError
from tidings.protocol.frames import text_frame
from tidings.protocol.piesocket.codec import (
    PresenceChange,
    encode_error,
    encode_member_event,
    encode_member_list,
)
from tidings.protocol.piesocket.session import Publish, V3Session, open_session
from tidings.server.connection import NO_APP, ShellConnection, admit_app, new_socket_id
from tidings.server.state import STATE, ServerState
from tidings.typing import ChannelName, UserId

__all__ = ["PieSocketConnection", "piesocket_endpoint"]

log = structlog.get_logger(__name__)

_FRAME_SLACK = 16 * 1024  # see pusher_ws: larger frames are cut by aiohttp with 1009
_PING_FRAME = b"\x89\x00"  # an unmasked, empty WebSocket ping


class PieSocketConnection(ShellConnection):
    """A piesocket-js (or raw PieSocket v3) client on one channel.

    Attributes:
        members: this connection's view of its channel's presence members (user id →
            info), or ``None`` when it is not a presence member (yet).
    """

    __slots__ = ("members", "session")

    wire = Wire.PIESOCKET
    session: V3Session
    members: dict[str, Any] | None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members = None

    def send_frame(self, frame: bytes) -> None:
        # Member changes carry no text: it needs this connection's member list.
        if type(frame) is PresenceFrame:
            self._presence_changed(frame.change)
        elif frame:
            self.outbox.push(frame)

    def _presence_changed(self, change: PresenceChange) -> None:
        members = self.members
        if members is None:  # not a presence client, or its member_list is not sent yet
            return
        if change.joined:
            info = members[change.user_id] = change.info
        else:
            info = members.pop(change.user_id, None)
        self.send_text(encode_member_event(change.joined, change.user_id, info, members))

    def error_frame(self, code: int, reason: str) -> bytes | None:
        return text_frame(encode_error(reason))

    def send_ping(self) -> None:
        self.outbox.push(_PING_FRAME)

    def drain_session(self) -> None:
        """Queue the session's error replies."""
        for text in self.session.data_to_send():
            self.send_text(text)


async def _admit(state: ServerState, request: web.Request) -> App:
    """The app named by ``api_key``, if it may take this connection.

    Raises:
        ConnectionRejected: with the close code and the message the client must see.
    """
    key = request.query.get("api_key", "")
    return admit_app(
        await state.node.apps.by_key(key) if key else None,
        key=key,
        key_name="api_key",
        draining=state.draining,
        origin=request.headers.get("Origin"),
        hint="pass the app key as api_key (PieSocket's apiKey)",
    )


def _open(request: web.Request, app: App, socket_id: str) -> V3Session:
    # The app fields the session takes are named in App's metadata (piesocket=).
    return open_session(
        request.match_info["channel"],
        request.query,
        jwt_header=request.headers.get("jwt"),
        socket_id=socket_id,
        now=time.time(),
        **session_arguments(app, "piesocket"),
    )


async def piesocket_endpoint(request: web.Request) -> web.StreamResponse:
    """Serve one PieSocket v3 connection until it closes."""
    state = request.app[STATE]
    transport = request.transport
    if transport is None:  # the peer went away during the handshake
        return web.Response(status=499)
    ws = web.WebSocketResponse(
        compress=False,  # frames are shared between connections: never deflated
        max_msg_size=state.settings.app_default("max_payload_bytes") + _FRAME_SLACK,
        autoping=False,  # pongs are liveness: see _serve
    )
    socket_id = new_socket_id()
    app = NO_APP
    session: V3Session | None = None
    rejection: ConnectionRejected | None = None
    try:
        app = await _admit(state, request)
        session = _open(request, app, socket_id)
    except ConnectionRejected as exc:
        rejection = exc
    await ws.prepare(request)
    conn = PieSocketConnection(
        socket_id=socket_id,
        app=app,
        ws=ws,
        transport=transport,
        flusher=state.flusher,
        high_water=state.settings.max_write_buffer_bytes,
    )
    if rejection is None:
        try:
            state.node.attach(conn)
        except ConnectionRejected as exc:
            rejection = exc
    if rejection is not None:
        log.info("v3 connection refused", reason=rejection.message, hint=rejection.hint)
        assert rejection.pusher_code is not None
        conn.close(rejection.pusher_code, rejection.message)
        return ws
    assert session is not None
    conn.session = session
    state.connections.add(conn)
    try:
        if await _join(conn, state):
            await _serve(conn, state)
    finally:
        state.connections.discard(conn)
        await _leave(conn, state)
    return ws


def _member(conn: PieSocketConnection) -> Member | None:
    params = conn.session.params
    return Member(UserId(params.user), {"uuid": params.uuid}) if params.presence else None


async def _join(conn: PieSocketConnection, state: ServerState) -> bool:
    """Subscribe ``conn`` to its channel; ``False`` when refused (the connection is closed)."""
    channel = ChannelName(conn.session.params.channel)
    member = _member(conn)
    try:
        result = await state.node.subscribe(conn, channel, member)
    except SubscriptionError as exc:
        conn.close(4100, exc.message)
        return False
    if member is not None:
        conn.members = dict(result.members or {})
        conn.send_text(encode_member_list(conn.members))
    if result.cached is not None:
        conn.send_frame(piesocket_frame(result.cached))
    return True


async def _leave(conn: PieSocketConnection, state: ServerState) -> None:
    params = conn.session.params
    # Any v3 channel can have presence, so the user id is passed explicitly.
    await state.node.detach(conn, {params.channel: params.user if params.presence else None})


async def _serve(conn: PieSocketConnection, state: ServerState) -> None:
    session = conn.session
    async for msg in conn.ws:
        conn.seen()
        if msg.type is WSMsgType.TEXT:
            command = session.receive_text(msg.data)
            if command is not None:
                await _publish(conn, command, state)
        elif msg.type is WSMsgType.BINARY:
            session.receive_binary(msg.data)
        elif msg.type is WSMsgType.PING:
            await conn.ws.pong(msg.data)
        elif msg.type is WSMsgType.ERROR:  # aiohttp already closed the socket (e.g. 1009)
            break
        conn.drain_session()
        if conn.closing:
            break


async def _publish(conn: PieSocketConnection, command: Publish, state: ServerState) -> None:
    params = conn.session.params
    await state.node.publish(
        Publication(
            conn.app.id,
            ChannelName(params.channel),
            command.event,
            command.data,
            socket_id=None if command.notify_self else conn.socket_id,
            user_id=UserId(params.user) if params.presence else None,
            meta=command.meta,
        )
    )
