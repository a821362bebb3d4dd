"""The WebSocket connection of every wire: glue between socket, session and node.

``WebSocketProtocol`` is the ``asyncio.Protocol`` of a connection once the front
door (``tidings.web.front``) has seen its upgrade request. It has no task of its
own: bytes arrive in ``data_received``, the frame reader
(``tidings.protocol.rfc6455``) makes events of them, the sans-I/O session
turns those into commands, and the commands run on the node
(``tidings.web.commands``), all at once when
nothing has to wait (``tidings.web.eager``). Only a command that does wait (a
Redis round trip) becomes a task, and messages that arrive meanwhile wait
behind it, in order. Protocol decisions live in ``tidings.protocol`` and
``tidings.wires``; ordering rules in ``tidings.core.node``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Final, cast

import structlog

from tidings.apps.base import App
from tidings.errors import ConnectionRejected
from tidings.protocol import rfc6455, wsevents
from tidings.protocol.frames import close_frame
from tidings.web.commands import report_refusals, run_command
from tidings.web.connection import NO_APP, ClientConnection, admit_app, new_socket_id
from tidings.web.eager import start_eagerly
from tidings.web.noise import network_noise
from tidings.web.state import ServerState
from tidings.web.transports import break_transport_cycle, socket_transport
from tidings.wires.base import Handshake, Wire

__all__ = ["WebSocketProtocol"]

log = structlog.get_logger(__name__)

# Frames this many bytes over the app's payload limit are refused (close 1009);
# smaller oversize messages get the protocol's error from the session.
_FRAME_SLACK: Final = 16 * 1024

# Messages waiting behind a command that waits (a Redis round trip) before the
# socket stops being read: a client cannot queue more than this in the server.
_BACKLOG_LIMIT: Final = 64


class WebSocketProtocol(asyncio.Protocol):
    """One upgraded client connection of ``wire``'s protocol.

    The front door writes nothing itself: ``start`` answers the upgrade (101)
    and runs the admission, then feeds the bytes that came behind the request.

    Attributes:
        conn: the connection the hub and the node know, once admitted.
    """

    __slots__ = (
        "_backlog",
        "_busy",
        "_left",
        "_lost",
        "_paused",
        "_reader",
        "_socket",
        "_state",
        "_transport",
        "conn",
    )

    def __init__(self, state: ServerState, transport: asyncio.BaseTransport) -> None:
        self._state = state
        # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
        self._transport = cast(asyncio.Transport, transport)
        self._socket: asyncio.BaseTransport | None = socket_transport(transport)
        max_message = state.settings.app_default("max_payload_bytes") + _FRAME_SLACK
        self._reader: rfc6455.FrameReader | None = rfc6455.FrameReader(max_message)
        self.conn: ClientConnection | None = None
        self._busy: asyncio.Task[None] | None = None
        self._backlog: list[wsevents.Event] | None = None
        self._lost = False
        self._left = False  # the node has forgotten this connection (or is about to)
        self._paused = False

    # -- the upgrade --------------------------------------------------------------

    def start(
        self,
        wire: Wire,
        handshake: Handshake,
        accept: str,
        origin: str | None,
        remote: str | None,
    ) -> None:
        """Answer the upgrade with ``Sec-WebSocket-Accept: accept`` and admit the client."""
        self._transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        self._spawn(self._accept(wire, handshake, origin, remote))

    async def _accept(
        self, wire: Wire, handshake: Handshake, origin: str | None, remote: str | None
    ) -> None:
        state = self._state
        socket_id = new_socket_id()
        app: App = NO_APP
        session = None
        rejection: ConnectionRejected | None = None
        try:
            app = await _admit(state, wire, handshake, origin)
            session = wire.open_session(handshake, app, socket_id, state.settings.activity_timeout)
        except ConnectionRejected as exc:
            rejection = exc.with_traceback(None)  # its traceback holds this frame: a cycle
        conn = ClientConnection(
            socket_id=socket_id,
            app=app,
            plugin=wire,
            transport=self._transport,
            flusher=state.flusher,
            high_water=state.settings.max_write_buffer_bytes,
            linger=float(state.settings.activity_timeout),
        )
        if rejection is None:
            try:
                state.node.attach(conn, remote=remote)
            except ConnectionRejected as exc:
                rejection = exc.with_traceback(None)
        if rejection is not None:
            # Anyone can be refused, as often as they like: one info line per second at
            # most (with a count of the rest), never one per attempt.
            network_noise(
                "connection refused",
                wire=wire.name,
                code=rejection.pusher_code,
                reason=rejection.message,
                remote=remote,
            )
            assert rejection.pusher_code is not None
            self._reader = None  # nothing the client sends now matters
            conn.close(rejection.pusher_code, rejection.message)
            conn.outbox.release()  # its frames are written: break the conn <-> outbox cycle
            return
        assert session is not None
        conn.start_session(session)
        conn.on_close = self._closing
        self.conn = conn
        state.connections.add(conn)
        session.start()
        await self._run_commands(conn)
        conn.drain_session()

    # -- asyncio.Protocol ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None:
            return
        self._state.flusher.traffic.bytes_in += len(data)
        try:
            events = reader.feed(data)
        except rfc6455.ProtocolViolation as exc:
            self._fail(exc)
            return
        if not events:
            return
        if self._busy is not None or self.conn is None:
            backlog = self._backlog
            if backlog is None:
                self._backlog = backlog = []
            backlog.extend(events)
            if len(backlog) > _BACKLOG_LIMIT and not self._paused:
                self._paused = True
                self._transport.pause_reading()
            return
        self._spawn(self._process(events))

    def eof_received(self) -> bool | None:
        return None  # close the transport: a client that stops sending is done

    def pause_writing(self) -> None:
        pass  # the outbox checks the transport's buffer itself

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.outbox.resume()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._reader = None
        self._backlog = None
        conn = self.conn
        if conn is not None:
            conn.lost()
        if self._socket is not None:
            break_transport_cycle(self._socket)
            self._socket = None
        if self._busy is None:
            self._detach()

    # -- messages ------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` now; if it has to wait, it is the busy task until it ends."""
        try:
            task = start_eagerly(coro)
        except Exception:
            self._crashed()
            return
        if task is not None:
            self._busy = task
            task.add_done_callback(self._idle)

    def _idle(self, task: asyncio.Task[None]) -> None:
        self._busy = None
        if not task.cancelled() and task.exception() is not None:
            self._crashed(task.exception())
        if self._lost:
            self._detach()
            return
        if self.conn is not None and self.conn.closing:
            self._leave()
            return
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        backlog, self._backlog = self._backlog, None
        if backlog and self.conn is not None:
            self._spawn(self._process(backlog))

    async def _process(self, events: list[wsevents.Event]) -> None:
        conn = self.conn
        assert conn is not None
        session = conn.session
        traffic = self._state.flusher.traffic
        while True:
            for event in events:
                if conn.closing or self._lost:
                    return
                conn.seen()
                traffic.frames_in += 1
                match event:
                    case wsevents.Text(text):
                        session.receive_text(text)
                    case wsevents.Binary(data):
                        session.receive_binary(data)
                    case wsevents.Ping():
                        conn.send_frame(event.pong_frame())  # after the frames queued before
                        continue
                    case wsevents.Pong():
                        continue  # proof of life: seen() above was all it is for
                    case wsevents.Close(code):
                        self._closed_by_client(conn, code)
                        return
                await self._run_commands(conn)
                conn.drain_session()
            backlog = self._backlog
            if not backlog:
                return
            events, self._backlog = backlog, None

    async def _run_commands(self, conn: ClientConnection) -> None:
        """Run what the session asks, until answering it asks nothing more."""
        while commands := conn.session.commands_received():
            for command in commands:
                await run_command(conn, command, self._state)
        if refusals := conn.session.refusals_sent():
            report_refusals(conn, self._state, refusals)

    # -- endings -------------------------------------------------------------------

    def _closed_by_client(self, conn: ClientConnection, code: int) -> None:
        """Echo the client's close (RFC 6455 5.5.1) after what is queued, then close."""
        self._reader = None
        conn.close(1000 if code == 1005 else code, "", last_words=False, by_client=True)

    def _fail(self, violation: rfc6455.ProtocolViolation) -> None:
        """Fail the connection (RFC 6455 7.1.7): a close frame with the code, then close."""
        self._reader = None
        peer = self._transport.get_extra_info("peername")
        network_noise(
            "websocket protocol violation",
            peer=peer[0] if isinstance(peer, tuple) else None,
            problem=violation.reason,
        )
        if self.conn is not None:
            self.conn.close(violation.code, violation.reason, last_words=False)
        elif not self._transport.is_closing():
            self._transport.write(close_frame(violation.code, violation.reason))
            self._transport.close()

    def _crashed(self, exc: BaseException | None = None) -> None:
        """A bug in tidings (never the client's doing): log it, close the connection."""
        log.error("websocket connection failed", exc_info=exc or True)
        self._reader = None
        if self.conn is not None:
            self.conn.close(1011, "Internal server error")
        else:
            self._transport.abort()

    def _closing(self) -> None:
        """The connection started closing (``conn.on_close``): the node forgets it soon.

        Its last frames may take up to the activity timeout to drain (a slow
        consumer that reads again), but it leaves its channels and presence now.
        Not from inside the call that closed it, which may be a command still
        running: from the next loop iteration, when that command has either
        finished or become the busy task (whose end, ``_idle``, leaves then).
        """
        self._reader = None  # nothing the client sends now matters
        asyncio.get_running_loop().call_soon(self._leave_if_idle)

    def _leave_if_idle(self) -> None:
        if self._busy is None:
            self._leave()

    def _leave(self) -> None:
        """Leave every channel, presence and the registry; once per connection."""
        conn = self.conn
        if conn is None or self._left:
            return
        self._left = True
        node = self._state.node
        self._spawn_detached(node.detach(conn, conn.session.channels.items(), conn.close_code))

    def _detach(self) -> None:
        """The transport is gone: leave the node (if not yet) and drop the connection."""
        self._leave()
        conn, self.conn = self.conn, None
        if conn is None:
            return
        conn.lost()  # again: the admission may have ended after the loss
        self._state.connections.discard(conn)

    def _spawn_detached(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = start_eagerly(coro)
        except Exception:
            log.exception("leaving the channels of a closed connection failed")
            return
        if task is not None:
            task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("leaving the channels of a closed connection failed", exc_info=task.exception())


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
