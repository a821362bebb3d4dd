"""The main port's HTTP shell: one ``asyncio.Protocol`` per TCP connection, every route.

A connection starts here and stays here until it is closed or upgraded. The
shell is glue, in the order the bytes go:

1. ``data_received`` feeds the sans-I/O ``RequestReader`` (``protocol/http1``),
   which returns the complete requests (head and body) and, on garbage, the
   ``HttpError`` to answer.
2. Each request goes, in order, to ``Reception.serve`` (the router and the
   handlers, ``tidings.http``; the listener's shared part is
   ``tidings.web.reception``), run at once (``tidings.web.eager``): a publish
   on the in-memory broker is answered inside this ``data_received``. A
   request that has to wait (a Redis round trip) becomes a task, and the
   requests behind it wait, in order.
3. The answer is a ``Reply`` (written, and the next request is served) or an
   ``Upgrade`` (the connection becomes ``WebSocketProtocol``'s, with the bytes
   that came behind the upgrade request: the first frames).

Bounds, so that no client can make the server hold more than a few requests:

- time: a request head must be complete within ``handshake_timeout`` of the
  connection's start or of the previous answer (an idle keep-alive connection
  is closed after as long); a body within ``request_body_timeout`` of its
  head (408);
- pipelining: past ``PIPELINE_LIMIT`` requests waiting, the socket is not read;
- write backpressure: while the transport's buffer is over its high-water mark
  (``pause_writing``), no request is served and the socket is not read, so a
  client that does not read its answers stops being read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Final, cast

import structlog

from tidings.protocol.http1 import RequestReader
from tidings.protocol.http_request import HttpError, Request
from tidings.web.eager import start_eagerly
from tidings.web.noise import NoiseLog, network_noise
from tidings.web.reply import BUG_REPLY, Reply, error_reply, render_reply
from tidings.web.transports import break_transport_cycle, socket_transport
from tidings.web.upgrade import Upgrade
from tidings.web.websocket import WebSocketProtocol

if TYPE_CHECKING:
    from tidings.web.reception import Reception

__all__ = ["LINGER_SECONDS", "PIPELINE_LIMIT", "FrontDoor"]

log = structlog.get_logger(__name__)

#: Requests read but not answered before the socket stops being read.
PIPELINE_LIMIT: Final = 16

#: How long a connection closed after an answer still reads (and drops) what the
#: client sends, so that the answer is not lost to a TCP reset (see ``_linger``).
LINGER_SECONDS: Final = 1.0

_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_TLS_RECORD: Final = 0x16  # the first byte of a TLS ClientHello

#: One warning a minute at most: a browser or SDK told to use https/wss on this port.
_tls_noise = NoiseLog(interval=60.0, level="warning")

_TLS_ERROR: Final = HttpError(
    400,
    "TLS on a plain-HTTP port: this listener speaks http:// and ws://",
    hint="connect with ws:// (http://), or start tidings with --tls-cert and --tls-key",
    close=True,
)


class FrontDoor(asyncio.Protocol):
    """One connection until it is closed or upgraded; see the module docstring."""

    __slots__ = (
        "_busy",
        "_continued",
        "_deadline",
        "_eof",
        "_lingering",
        "_queue",
        "_reader",
        "_reading_paused",
        "_reception",
        "_timer",
        "_timing_body",
        "_transport",
        "_writing_paused",
    )

    def __init__(self, reception: Reception) -> None:
        self._reception = reception
        self._reader = RequestReader(max_body=reception.max_body)
        # Requests read and not yet served, then the reader's refusal if any.
        self._queue: deque[Request | HttpError] = deque()
        self._busy = False  # a request is being served (its task waits)
        self._reading_paused = False
        self._writing_paused = False
        self._eof = False
        self._lingering = False  # the last answer is sent; input is dropped until close
        self._continued = False  # 100 Continue sent for the body being read
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._timing_body = False
        self._transport: asyncio.Transport | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A client connected: its first request head has ``handshake_timeout`` from now."""
        # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
        self._transport = cast(asyncio.Transport, transport)
        self._reception.doors.add(self)
        self._arm(self._reception.head_timeout)

    def data_received(self, data: bytes) -> None:
        """Read what ``data`` completes, queue it (requests, then a refusal), serve in order.

        Runs the requests at once: most are answered before this returns.
        """
        if self._lingering:
            return  # the last answer is sent: drop what still comes (see _linger)
        reader = self._reader
        if not self._reception.tls and data[0] == _TLS_RECORD and not reader.mid_request:
            # No HTTP method starts with 0x16: a client speaking TLS to a plain port.
            _tls_noise("tls on a plain port", peer=self._peer(), hint=_TLS_ERROR.hint)
            self._queue.append(_TLS_ERROR)
        else:
            self._queue.extend(reader.feed(data))
            if reader.failed is not None:
                network_noise("bad http request", peer=self._peer(), problem=reader.failed.message)
                self._queue.append(reader.failed)
        if reader.in_body and not self._timing_body:
            # The head is in: the body has request_body_timeout from now.
            self._timing_body = True
            self._arm(self._reception.body_timeout)
        self._advance()

    def eof_received(self) -> bool | None:
        """The client sends no more: close once what it asked is answered (half-close)."""
        if self._lingering:
            return None  # the client read the last answer and left: close
        self._eof = True
        # Keep the write side open until what was asked is answered.
        return True if self._busy or self._queue else None

    def pause_writing(self) -> None:
        """The transport's buffer is over its high-water mark (asyncio calls this)."""
        # The client does not read its answers: serve and read nothing more until it does.
        self._writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        """The client read enough: serve the queued requests, then read again."""
        self._writing_paused = False
        self._advance()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection is gone (or was closed here): drop everything it held.

        A request being served finishes and finds no transport; nothing of this
        connection stays reachable (the transport's own cycle is broken too).
        """
        pending = self._reader.pending
        if pending is not None:
            network_noise("client left mid-request", peer=self._peer(), path=pending.path)
        self._leave()
        self._queue.clear()
        if self._transport is not None:
            break_transport_cycle(socket_transport(self._transport))
            self._transport = None

    def close(self) -> None:
        """Close the connection (the server is stopping)."""
        if self._transport is not None:
            self._transport.close()

    # -- serving ---------------------------------------------------------------------

    def _advance(self) -> None:
        """Serve the queued requests in order, until one waits or the client must read."""
        queue = self._queue
        while queue and not self._busy and not self._writing_paused:
            transport = self._transport
            if transport is None or transport.is_closing():
                return
            item = queue.popleft()
            if isinstance(item, HttpError):
                self._write(error_reply(item), close=True, head_only=False)
                return
            task = start_eagerly(self._respond(item))
            if task is not None:
                self._busy = True
                task.add_done_callback(self._served)
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._busy or self._writing_paused or len(queue) >= PIPELINE_LIMIT:
            self._pause_reading()
            return
        if self._eof:
            transport.close()  # the client sends nothing more and everything is answered
            return
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        reader = self._reader
        if reader.expect_continue and not self._continued:
            self._continued = True  # curl waits a second for this before a large body
            transport.write(_CONTINUE)

    def _served(self, task: asyncio.Task[None]) -> None:
        """A request that had to wait is answered: serve the ones that came meanwhile."""
        self._busy = False
        self._advance()

    async def _respond(self, request: Request) -> None:
        """Serve ``request`` and write its answer, or perform its upgrade.

        ``serve`` renders every ``TidingsError`` itself; anything else it raises is a
        bug in tidings: logged with its traceback, answered 500 JSON and closed.
        """
        try:
            answer = await self._reception.serve(request)
        except Exception:
            log.exception("http request failed", method=request.method, path=request.path)
            answer = BUG_REPLY
        if self._transport is None:
            return  # the client left meanwhile
        if isinstance(answer, Upgrade):
            self._upgrade(answer)
            return
        # A refused upgrade request leaves the parser switched: no request can follow.
        close = answer.close or not request.keep_alive or request.upgrade
        self._write(answer, close=close, head_only=request.method == "HEAD")

    def _write(self, reply: Reply, *, close: bool, head_only: bool) -> None:
        """Write ``reply``; then close (lingering), or wait for the next request's head."""
        transport = self._transport
        assert transport is not None
        transport.write(render_reply(reply, close=close, head_only=head_only))
        if close:
            self._linger(transport)
            return
        self._continued = False
        self._timing_body = False
        self._arm(self._reception.head_timeout)  # the next request's head starts now

    def _linger(self, transport: asyncio.Transport) -> None:
        """Close after the last answer, without losing it to a TCP reset.

        Closing a socket with unread input makes the kernel send a reset, and a
        client that has not read the answer yet loses it (a refused 20 KiB URL, a
        413 before its body). So: send the answer and a FIN (``write_eof``), read
        and drop whatever still comes for ``LINGER_SECONDS`` at most, then close;
        a client that closes first ends it at once. TLS cannot half-close: closed.
        """
        self._leave()
        self._queue.clear()
        if self._lingering:
            return
        if not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self._timer = self._reception.loop.call_later(LINGER_SECONDS, transport.close)

    def _upgrade(self, upgrade: Upgrade) -> None:
        """Give the connection to a wire's WebSocket endpoint, with the bytes behind the head."""
        transport = self._transport
        assert transport is not None
        tail = self._reader.tail
        self._leave()
        self._transport = None  # the connection is the WebSocket's now
        protocol = WebSocketProtocol(self._reception.state, transport)
        transport.set_protocol(protocol)
        if self._reading_paused:
            transport.resume_reading()
        protocol.start(
            upgrade.wire,
            upgrade.handshake,
            upgrade.accept,
            upgrade.origin,
            self._peer_of(transport),
        )
        if tail:
            protocol.data_received(tail)

    # -- timing and flow ---------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        """Wait ``seconds`` for what is expected next; one timer, moved on, not remade."""
        loop = self._reception.loop
        self._deadline = deadline = loop.time() + seconds
        timer = self._timer
        if timer is not None and timer.when() > deadline:
            timer.cancel()  # a shorter wait (the body's) than the one timed
            timer = None
        if timer is None:
            self._timer = loop.call_at(deadline, self._timed_out)

    def _timed_out(self) -> None:
        """The deadline of what was awaited (a head, a body) may have passed: act on it.

        The timer is moved on rather than remade (``_arm`` only moves the deadline
        when it gets later), so this first checks the deadline is really past.
        """
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        loop = self._reception.loop
        if self._busy:  # a request is being served: the wait starts after its answer
            self._deadline = loop.time() + self._reception.head_timeout
        if self._deadline > loop.time():
            self._timer = loop.call_at(self._deadline, self._timed_out)
            return
        if self._reader.in_body and not self._writing_paused:
            timeout = self._reception.body_timeout
            network_noise("http request body too slow", peer=self._peer(), timeout=timeout)
            error = HttpError(
                408,
                f"the request body did not arrive within {timeout:g} s",
                hint="send the whole body at once (TIDINGS_REQUEST_BODY_TIMEOUT sets the limit)",
                close=True,
            )
            self._write(error_reply(error), close=True, head_only=False)
            return
        if self._writing_paused:
            # Answers the client never read: close() would wait for them for ever.
            transport.abort()
            return
        transport.close()  # no (complete) request head in time, or an idle keep-alive

    def _pause_reading(self) -> None:
        """Stop reading the socket (once; ``_advance`` resumes it)."""
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _leave(self) -> None:
        """The connection is no longer this door's: it went elsewhere or it is gone."""
        self._reader.release()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._reception.doors.discard(self)

    def _peer(self) -> str | None:
        """The client's address, for the log lines."""
        return self._peer_of(self._transport)

    @staticmethod
    def _peer_of(transport: asyncio.BaseTransport | None) -> str | None:
        peer = transport.get_extra_info("peername") if transport is not None else None
        return peer[0] if isinstance(peer, tuple) else None
