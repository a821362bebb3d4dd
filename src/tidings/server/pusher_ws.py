"""The Pusher protocol v7 endpoint ``GET /app/{key}``: glue between socket, session and node.

Each step feeds the sans-I/O ``PusherSession``, drains its commands into the
node and its output into the connection's outbox. Protocol decisions live in
``tidings.protocol.pusher``; ordering rules live in ``tidings.core.node``.
"""

from __future__ import annotations

import functools

import structlog
from aiohttp import WSMsgType, web

from tidings.apps.base import App, session_arguments
from tidings.core.encoders import pusher_frame
from tidings.core.model import Member, Publication, Wire
from tidings.errors import ConnectionRejected, SubscriptionError
from tidings.protocol.frames import text_frame
from tidings.protocol.pusher import codec
from tidings.protocol.pusher.commands import (
    ClientEvent,
    Close,
    Command,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from tidings.protocol.pusher.session import PusherSession, SessionPolicy
from tidings.server.connection import NO_APP, ShellConnection, admit_app, new_socket_id
from tidings.server.state import STATE, ServerState
from tidings.typing import ChannelName, UserId

__all__ = ["PusherConnection", "pusher_endpoint"]

log = structlog.get_logger(__name__)

# aiohttp refuses (close 1009) frames larger than this many bytes over the app's
# payload limit; smaller oversize messages get a pusher:error from the session.
_FRAME_SLACK = 16 * 1024


class PusherConnection(ShellConnection):
    """A pusher-js (or any Pusher protocol v7) client."""

    __slots__ = ("session",)

    wire = Wire.PUSHER
    session: PusherSession

    def drain_session(self) -> None:
        """Queue whatever the session has to send."""
        for text in self.session.data_to_send():
            self.outbox.push(text_frame(text))

    def error_frame(self, code: int, reason: str) -> bytes | None:
        return text_frame(codec.encode_error(reason, code))

    def send_ping(self) -> None:
        self.session.ping()
        self.drain_session()


@functools.lru_cache(maxsize=1024)
def session_policy(app: App) -> SessionPolicy:
    """The session's view of an app's flags and limits (one object per app, shared).

    Which fields it takes is stated once, in ``App``'s field metadata (``policy=``).
    """
    return SessionPolicy(**session_arguments(app, "policy"))


async def _admit(state: ServerState, request: web.Request) -> App:
    """Check the protocol version, then the app, before the session starts.

    Raises:
        ConnectionRejected: with the Pusher code the client must see.
    """
    if not state.draining:
        codec.parse_protocol_version(request.query.get("protocol"))
    key = request.match_info["key"]
    return admit_app(
        await state.node.apps.by_key(key),
        key=key,
        key_name="app key",
        draining=state.draining,
        origin=request.headers.get("Origin"),
        hint="check the key passed to new Pusher(key, ...)",
    )


async def pusher_endpoint(request: web.Request) -> web.StreamResponse:
    """Serve one Pusher protocol connection until it closes."""
    state = request.app[STATE]
    node = state.node
    transport = request.transport
    if transport is None:  # the peer went away during the handshake
        return web.Response(status=499)
    ws = web.WebSocketResponse(
        compress=False,  # frames are shared between connections: never deflated
        max_msg_size=state.settings.app_default("max_payload_bytes") + _FRAME_SLACK,
        autoping=True,
    )
    try:
        app: App | None = await _admit(state, request)
        rejection = None
    except ConnectionRejected as exc:
        app, rejection = None, exc
    await ws.prepare(request)
    conn = PusherConnection(
        socket_id=new_socket_id(),
        app=app or NO_APP,
        ws=ws,
        transport=transport,
        flusher=state.flusher,
        high_water=state.settings.max_write_buffer_bytes,
    )
    if rejection is None:
        try:
            node.attach(conn)
        except ConnectionRejected as exc:
            rejection = exc
    if rejection is not None:
        assert rejection.pusher_code is not None
        conn.close(rejection.pusher_code, rejection.message)
        return ws
    assert app is not None
    conn.session = PusherSession(
        conn.socket_id, session_policy(app), activity_timeout=state.settings.activity_timeout
    )
    state.connections.add(conn)
    try:
        conn.session.start()
        conn.drain_session()
        await _serve(conn, state)
    finally:
        state.connections.discard(conn)
        await node.detach(conn, conn.session.channels)
    return ws


async def _serve(conn: PusherConnection, state: ServerState) -> None:
    session = conn.session
    async for msg in conn.ws:
        conn.seen()
        if msg.type is WSMsgType.TEXT:
            session.receive_text(msg.data)
        elif msg.type is WSMsgType.BINARY:
            session.receive_binary(msg.data)
        else:  # ERROR: aiohttp already closed the socket (e.g. 1009 frame too big)
            break
        for command in session.commands_received():
            await _run(conn, command, state)
        conn.drain_session()
        if conn.closing:
            break


async def _run(conn: PusherConnection, command: Command, state: ServerState) -> None:
    node = state.node
    session = conn.session
    app_id = conn.app.id
    match command:
        case Subscribe(channel, user_id, user_info):
            member = Member(UserId(user_id), user_info) if user_id is not None else None
            try:
                result = await node.subscribe(conn, ChannelName(channel), member)
            except SubscriptionError as exc:
                session.subscription_refused(channel, exc)
                return
            session.subscribed(channel, result.members)
            conn.drain_session()  # subscription_succeeded precedes a cached event
            if result.cached is not None:
                conn.send_frame(pusher_frame(result.cached))
            elif result.cache_miss:
                session.cache_miss(channel)
        case Unsubscribe(channel, user_id):
            await node.unsubscribe(conn, ChannelName(channel), user_id)
        case ClientEvent(channel, event, data, user_id):
            await node.publish(
                Publication(
                    app_id,
                    ChannelName(channel),
                    event,
                    data,
                    socket_id=conn.socket_id,
                    user_id=UserId(user_id) if user_id is not None else None,
                )
            )
        case SignIn(user_id, _):
            node.sign_in(conn, UserId(user_id))
        case Close(code, reason):
            conn.drain_session()
            conn.close(code, reason)
