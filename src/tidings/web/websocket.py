"""The WebSocket endpoint of every wire: glue between socket, session and node.

One handler serves each wire's route (``bootstrap`` mounts it once per wire).
Each step feeds the sans-I/O session, runs the commands it emits on the node,
and queues what it has to send in the connection's outbox. Protocol decisions
live in ``tidings.protocol`` and ``tidings.wires``; ordering rules in
``tidings.core.node``.
"""

from __future__ import annotations

import time

from aiohttp import WSMsgType, web

from tidings.apps.base import App
from tidings.domain import events
from tidings.domain.messages import Member, Publication
from tidings.errors import ConnectionRejected, SubscriptionError
from tidings.protocol.commands import (
    ClientEvent,
    Close,
    Command,
    Refusal,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from tidings.protocol.frames import pong_frame
from tidings.typing import ChannelName, UserId
from tidings.web.connection import NO_APP, ClientConnection, admit_app, new_socket_id
from tidings.web.framing import GuardedWebSocketResponse
from tidings.web.noise import network_noise
from tidings.web.state import STATE, ServerState
from tidings.wires.base import Handshake, Wire

__all__ = ["websocket_endpoint"]


# aiohttp refuses (close 1009) frames larger than this many bytes over the app's
# payload limit; smaller oversize messages get the protocol's error from the session.
_FRAME_SLACK = 16 * 1024


async def _admit(state: ServerState, wire: Wire, handshake: Handshake, origin: str | None) -> App:
    """The app the client named, if it may take this connection.

    Raises:
        ConnectionRejected: with the close code and message the client must see.
    """
    key = "" if state.draining else wire.app_key(handshake)
    return admit_app(
        await state.node.apps.by_key(key) if key else None,
        key=key,
        key_name=wire.key_name,
        draining=state.draining,
        origin=origin,
        hint=wire.key_hint,
    )


async def websocket_endpoint(request: web.Request, *, wire: Wire) -> web.StreamResponse:
    """Serve one connection of ``wire``'s protocol until it closes."""
    state = request.app[STATE]
    node = state.node
    transport = request.transport
    if transport is None:  # the peer went away during the handshake
        return web.Response(status=499)
    ws = GuardedWebSocketResponse(
        compress=False,  # frames are shared between connections: never deflated
        max_msg_size=state.settings.app_default("max_payload_bytes") + _FRAME_SLACK,
        autoping=False,  # pongs prove liveness: see _serve
    )
    ws.traffic = state.flusher.traffic
    handshake = Handshake(request.match_info, request.query, request.headers, time.time())
    socket_id = new_socket_id()
    app: App = NO_APP
    session = None
    rejection: ConnectionRejected | None = None
    try:
        app = await _admit(state, wire, handshake, request.headers.get("Origin"))
        session = wire.open_session(handshake, app, socket_id, state.settings.activity_timeout)
    except ConnectionRejected as exc:
        rejection = exc
    await ws.prepare(request)
    conn = ClientConnection(
        socket_id=socket_id,
        app=app,
        plugin=wire,
        ws=ws,
        transport=transport,
        flusher=state.flusher,
        high_water=state.settings.max_write_buffer_bytes,
    )
    if rejection is None:
        try:
            node.attach(conn, remote=request.remote)
        except ConnectionRejected as exc:
            rejection = exc
    if rejection is not None:
        # Anyone can be refused, as often as they like: one info line per second at
        # most (with a count of the rest), never one per attempt.
        network_noise(
            "connection refused",
            wire=wire.name,
            code=rejection.pusher_code,
            reason=rejection.message,
            remote=request.remote,
        )
        assert rejection.pusher_code is not None
        conn.close(rejection.pusher_code, rejection.message)
        return ws
    assert session is not None
    conn.start_session(session)
    state.connections.add(conn)
    try:
        session.start()
        await _run_commands(conn, state)
        conn.drain_session()
        if not conn.closing:
            await _serve(conn, state)
    finally:
        state.connections.discard(conn)
        await node.detach(conn, session.channels.items(), conn.close_code)
    return ws


async def _serve(conn: ClientConnection, state: ServerState) -> None:
    session = conn.session
    traffic = state.flusher.traffic
    async for msg in conn.ws:
        conn.seen()
        traffic.frames_in += 1
        if msg.type is WSMsgType.TEXT:
            session.receive_text(msg.data)
        elif msg.type is WSMsgType.BINARY:
            session.receive_binary(msg.data)
        elif msg.type is WSMsgType.PING:
            conn.send_frame(pong_frame(msg.data))  # through the outbox, after queued frames
            continue
        elif msg.type is WSMsgType.PONG:
            continue
        else:  # ERROR: aiohttp already closed the socket (e.g. 1009 frame too big)
            break
        await _run_commands(conn, state)
        conn.drain_session()
        if conn.closing:
            break


async def _run_commands(conn: ClientConnection, state: ServerState) -> None:
    """Run what the session asks, until answering it asks nothing more."""
    while commands := conn.session.commands_received():
        for command in commands:
            await _run(conn, command, state)
    if refusals := conn.session.refusals_sent():
        _report(conn, state, refusals)


def _report(conn: ClientConnection, state: ServerState, refusals: list[Refusal]) -> None:
    """Tell the bus what the session refused (auth failures, errors): logs and the console."""
    bus = state.node.bus
    app_id, socket_id = conn.app.id, conn.socket_id
    for refusal in refusals:
        if refusal.channel is not None:
            if bus.wants(events.SubscriptionRefused):
                channel = ChannelName(refusal.channel)
                bus.emit(events.SubscriptionRefused(app_id, channel, socket_id, refusal.message))
        elif bus.wants(events.ErrorSent):
            bus.emit(events.ErrorSent(app_id, socket_id, refusal.code, refusal.message))


async def _run(conn: ClientConnection, command: Command, state: ServerState) -> None:
    node = state.node
    session = conn.session
    match command:
        case Subscribe(channel, user_id, user_info):
            member = Member(UserId(user_id), user_info) if user_id is not None else None
            try:
                result = await node.subscribe(conn, ChannelName(channel), member)
            except SubscriptionError as exc:
                session.subscription_refused(channel, exc)
                return
            session.subscribed(channel, result.members, result.cached, result.cache_miss)
        case Unsubscribe(channel, user_id):
            await node.unsubscribe(conn, ChannelName(channel), user_id)
        case ClientEvent(channel, event, data, user_id, meta, echo):
            await node.publish_from_client(
                conn.socket_id,
                Publication(
                    conn.app.id,
                    ChannelName(channel),
                    event,
                    data,
                    socket_id=None if echo else conn.socket_id,
                    user_id=UserId(user_id) if user_id is not None else None,
                    meta=meta,
                    from_client=True,
                ),
            )
        case SignIn(user_id, _, watchlist):
            # signin_success goes out first: watchlist events from the core follow it.
            conn.drain_session()
            await node.sign_in(conn, UserId(user_id), [UserId(u) for u in watchlist])
        case Close(code, reason):
            # The session queued its own last words: send them, then only the close frame.
            conn.drain_session()
            conn.close(code, reason, last_words=False)
