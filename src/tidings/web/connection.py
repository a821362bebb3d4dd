"""A client connection in the shell: its outbox, liveness, session and how it is closed.

One class serves every wire protocol; what differs (the session, the error
text before a close, the keepalive ping) comes from the connection's ``Wire``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import secrets
import socket
from collections.abc import Callable
from typing import cast

from tidings.apps.base import App
from tidings.errors import ConnectionRejected
from tidings.protocol.frames import close_frame, text_frame
from tidings.protocol.session import WireSession
from tidings.typing import AppId, AppKey, SocketId
from tidings.web.writer import Flusher, Outbox
from tidings.wires.base import Wire

__all__ = ["NO_APP", "ClientConnection", "admit_app", "new_socket_id", "origin_allowed"]

#: Unsent bytes the kernel may queue for one client socket (TCP_NOTSENT_LOWAT).
#: Past it the socket stops taking data, so a lagging client's backlog stays in
#: tidings, where it counts towards the slow-consumer mark and can be dropped,
#: instead of megabytes of stale events in an autotuned kernel send buffer.
KERNEL_UNSENT_BYTES = 128 * 1024


def _limit_kernel_backlog(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)  # Linux, macOS
    if sock is None or option is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, KERNEL_UNSENT_BYTES)
    except OSError:
        pass  # not a TCP socket (e.g. a test's socketpair): nothing to limit


def new_socket_id() -> SocketId:
    """A fresh Pusher socket id: two random integers joined by a dot (``"\\d+\\.\\d+"``)."""
    return SocketId(f"{secrets.randbelow(10**9) + 1}.{secrets.randbelow(10**9) + 1}")


class ClientConnection:
    """A WebSocket client of any wire protocol.

    Args:
        linger: seconds a connection the server closed may take to write its
            last frames (an error, the close frame) before the TCP connection is
            cut: the activity timeout, so a client that stalled (a slow consumer)
            and reads again within it still learns why it was closed.

    Attributes:
        wire: the protocol's name (``pusher``); ``plugin`` is the ``Wire`` itself.
        encoding: which of the wire's encoders the hub uses for this connection.
        session: the sans-I/O session, set once the app is admitted.
        on_close: called once, at once, when the connection starts closing (the
            shell leaves the node then, without waiting for the last frames).
    """

    # One per connection, thousands per process: no per-instance ``__dict__``.
    __slots__ = (
        "_abort_timer",
        "_linger",
        "_loop",
        "_transport",
        "app",
        "close_code",
        "closing",
        "encoding",
        "last_seen",
        "on_close",
        "outbox",
        "ping_sent_at",
        "plugin",
        "session",
        "socket_id",
        "wire",
    )

    session: WireSession

    def __init__(
        self,
        *,
        socket_id: SocketId,
        app: App,
        plugin: Wire,
        transport: asyncio.BaseTransport,
        flusher: Flusher,
        high_water: int,
        linger: float,
    ) -> None:
        self.socket_id = socket_id
        self.app = app
        self.plugin = plugin
        self.wire = plugin.name
        self.encoding = plugin.name
        # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
        self._transport = cast(asyncio.WriteTransport, transport)
        # hold: the WebSocket protocol's resume_writing tells the outbox when to go on.
        self.outbox = Outbox(
            transport, flusher, high_water=high_water, on_slow=self._slow, hold=True
        )
        _limit_kernel_backlog(transport)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.last_seen = loop.time()
        self.ping_sent_at: float | None = None
        self.closing = False
        self.close_code: int | None = None
        self.on_close: Callable[[], None] | None = None
        self._linger = linger
        self._abort_timer: asyncio.TimerHandle | None = None

    def use_app(self, app: App) -> None:
        """The app changed while this connection is open (same id): use its new fields,
        and let the wire hand them to the session (a rotated secret, new limits)."""
        self.app = app
        self.plugin.app_changed(self.session, app)

    def send_frame(self, frame: bytes) -> None:
        """Queue a ready frame (the hub's shared bytes)."""
        self.outbox.push(frame)

    def send_text(self, text: str) -> None:
        """Queue one text message."""
        self.outbox.push(text_frame(text))

    def seen(self) -> None:
        """The client sent something: it is alive."""
        self.last_seen = self._loop.time()
        self.ping_sent_at = None

    def start_session(self, session: WireSession) -> None:
        """Attach the session and pick the encoding the hub delivers with."""
        self.session = session
        self.encoding = self.plugin.encoding(session)

    def drain_session(self) -> None:
        """Queue whatever text the session has to send."""
        for text in self.session.data_to_send():
            self.outbox.push(text_frame(text))

    def send_ping(self) -> None:
        """Queue the protocol's ping (a ``pusher:ping``, or a WebSocket ping frame)."""
        self.outbox.push(self.plugin.ping_frame(self.session))

    def keepalive(self, now: float, activity_timeout: float) -> None:
        """Ping a silent client; close one that did not answer the last ping in time (4201)."""
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at > activity_timeout:
                self.close(4201, "Pong reply not received")
        elif now - self.last_seen > activity_timeout:
            self.ping_sent_at = now
            self.send_ping()

    def close(
        self, code: int, reason: str, *, last_words: bool = True, by_client: bool = False
    ) -> None:
        """Send the protocol's error (if any) and a close frame with ``code``, then close.

        Everything queued before is written first (a slow consumer's queue was
        dropped already: only the transport's few KiB are ahead). The TCP
        connection is cut if it has not drained within ``linger`` seconds.
        Idempotent; never raises.

        Args:
            last_words: send the protocol's error message first; ``False`` when
                the session already queued its own (a ``Close`` command).
            by_client: this answers the client's own close frame: ``close_code``
                stays ``None`` (it records only codes the server chose).
        """
        if self.closing:
            return
        self.closing = True
        if not by_client:
            self.close_code = code
        self.outbox.closed = True
        text = self.plugin.error_text(code, reason) if last_words else None
        last = text_frame(text) if text is not None else b""
        self.outbox.write_now(last + close_frame(code, reason))
        transport = self._transport
        transport.close()
        if transport.get_write_buffer_size():
            # The client is not reading: keep its last frames deliverable for the
            # linger, then cut it. Not armed when all went to the kernel, so a
            # closed connection is freed at once.
            self._abort_timer = self._loop.call_later(self._linger, transport.abort)
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    def abort(self) -> None:
        """Cut the TCP connection now, whatever is unsent (the shutdown grace is over)."""
        self._transport.abort()

    def lost(self) -> None:
        """The transport is gone: drop what is pending, disarm the cut, forget callbacks.

        Breaks the reference cycles through the outbox's ``on_slow`` and
        ``on_close``, so the closed connection is freed by reference counting.
        """
        self.outbox.release()
        self.on_close = None
        timer, self._abort_timer = self._abort_timer, None
        if timer is not None:
            timer.cancel()

    def _slow(self) -> None:
        self.close(4100, "Slow consumer: the client did not read its messages fast enough")


# Stands in for the app of a connection refused before its app was known.
# (NO_APP's secret is empty, so nothing can be signed for it.)
NO_APP = App(id=AppId(""), key=AppKey(""), secret="", enabled=False)


def origin_allowed(app: App, origin: str | None) -> bool:
    """Whether ``origin`` may connect to ``app`` (an empty list allows any origin)."""
    if not app.allowed_origins:
        return True
    if origin is None:
        return False
    return any(fnmatch.fnmatchcase(origin, pattern) for pattern in app.allowed_origins)


def admit_app(
    app: App | None, *, key: str, key_name: str, draining: bool, origin: str | None, hint: str
) -> App:
    """The checks every WebSocket endpoint makes before it starts a session.

    Args:
        app: the app found for ``key``, or ``None``.
        key_name: what this protocol calls the key (``app key``, ``api_key``).
        hint: how to pass the right key in this protocol's client.

    Raises:
        ConnectionRejected: 4200 while draining, 4001 unknown key, 4003 app
            disabled, 4009 origin not allowed.
    """
    if draining:
        raise ConnectionRejected("Server is shutting down; reconnect", code=4200)
    if app is None:
        problem = f"Unknown {key_name} {key[:40]!r}" if key else f"Missing {key_name}"
        raise ConnectionRejected(problem, code=4001, hint=hint)
    if not app.enabled:
        raise ConnectionRejected(f"App {app.id} is disabled", code=4003)
    if not origin_allowed(app, origin):
        raise ConnectionRejected(f"Origin {origin} is not allowed for this app", code=4009)
    return app
