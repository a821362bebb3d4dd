"""The load generator's WebSocket client: a raw asyncio protocol built to count fast.

A general WebSocket library spends microseconds per message (objects, callbacks, UTF-8
checks). The generator must outrun servers that deliver over a million messages per second
on one core, so this client walks frame headers in a tight loop and counts benchmark
messages with ``bytes.count`` over each received chunk (C speed). Every complete frame is
still parsed for its opcode and length, so framing errors are caught, control frames are
answered and text frames other than benchmark messages are handed to the target adapter.

Benchmark payloads are ``bm|SEQ|T_NS|padding`` (measured) or ``wu|...`` (warm-up) and appear
verbatim inside whatever envelope the target wraps them in, which is what makes counting
by marker target-independent.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from array import array
from collections.abc import Callable
from typing import cast

__all__ = ["MARK", "WARM", "Sink", "WsClient", "client_frame", "payload"]

MARK = b"bm|"
WARM = b"wu|"
_PING_MARK = b"pusher:ping"
_PONG = b'{"event":"pusher:pong","data":{}}'
_STAMP = re.compile(rb"bm\|(\d+)\|(\d+)\|")


def payload(seq: int, size: int, *, warm: bool = False) -> str:
    """A benchmark message body of about ``size`` bytes carrying ``seq`` and a send time."""
    head = f"{'wu' if warm else 'bm'}|{seq}|{time.perf_counter_ns()}|"
    return head + "x" * max(0, size - len(head))


def client_frame(data: bytes, opcode: int = 1) -> bytes:
    """A masked client-to-server frame (RFC 6455 §5.3 requires masking from clients)."""
    length = len(data)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    if not length:
        return header + mask
    key = (mask * (length // 4 + 1))[:length]
    body = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + body


class Sink:
    """Totals shared by every client of one generator run (the event loop is single-threaded)."""

    def __init__(self) -> None:
        self.total = 0  # benchmark messages received, all clients
        self.warmed = 0  # clients that have received at least one warm-up message
        self.ready = 0  # clients whose target adapter reported "subscribed"
        self.errors: list[str] = []  # first errors seen (bounded)
        self.closed = 0  # connections closed by the server or the network
        self.last = 0.0  # perf_counter() of the last chunk carrying benchmark messages
        self.progress = asyncio.Event()  # set whenever messages arrive
        self.latencies: array[int] | None = None  # ns samples when latency mode is on

    def error(self, text: str) -> None:
        """Record an error (only the first 20 are kept; the rest are counted in ``closed``)."""
        if len(self.errors) < 20:
            self.errors.append(text)


class WsClient(asyncio.Protocol):
    """One WebSocket connection; counts benchmark messages and hands other text frames on.

    Args:
        sink: the shared totals.
        host_header: the ``Host`` header value.
        path: request target, e.g. ``/app/app-key?protocol=7``.
        on_text: called with every text frame that is not a benchmark message while
            ``self.verbose`` is true (the adapter's handshake/subscribe phase).
        on_open: called once the 101 response arrived.
    """

    def __init__(
        self,
        sink: Sink,
        host_header: str,
        path: str,
        on_text: Callable[[WsClient, bytes], None],
        on_open: Callable[[WsClient], None],
    ) -> None:
        self.sink = sink
        self.host_header = host_header
        self.path = path
        self.on_text = on_text
        self.on_open = on_open
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.verbose = True
        self.count = 0
        self.warm = 0
        self.buf = b""
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.channels: list[str] = []  # channels this client subscribes to
        self.pending = 0  # subscriptions not yet confirmed by the server
        self.socket_id = ""  # tidings only: from pusher:connection_established

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.sink.closed += 1
        for future in (self.opened, self.subscribed):
            if not future.done():
                future.set_exception(ConnectionError(f"connection closed early: {exc}"))
                future.exception()  # mark retrieved: callers may have stopped waiting

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self._handshake(data)
            return
        buf = self.buf + data if self.buf else data
        n = len(buf)
        pos = 0
        others: list[bytes] | None = None
        # Walk every complete frame; server frames are unmasked (RFC 6455 §5.1).
        while n - pos >= 2:
            b0 = buf[pos]
            ln = buf[pos + 1] & 0x7F
            hl = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                hl = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hl = 10
            end = pos + hl + ln
            if end > n:
                break
            if b0 != 0x81 and b0 != 0x82:  # nchan sends binary frames for non-text types
                self._control(b0, buf[pos + hl : end])
            elif self.verbose:
                frame = buf[pos + hl : end]
                if MARK not in frame and WARM not in frame:
                    if others is None:
                        others = []
                    others.append(frame)
            pos = end
        if pos:
            got = buf.count(MARK, 0, pos)
            if got:
                self.count += got
                sink = self.sink
                sink.total += got
                sink.last = time.perf_counter()
                sink.progress.set()
                if sink.latencies is not None:
                    now = time.perf_counter_ns()
                    for match in _STAMP.finditer(buf, 0, pos):
                        sink.latencies.append(now - int(match.group(2)))
            if self.warm == 0 and buf.find(WARM, 0, pos) >= 0:
                self.warm = 1
                self.sink.warmed += 1
                self.sink.progress.set()
            if buf.find(_PING_MARK, 0, pos) >= 0:
                self.send_text(_PONG)
        self.buf = buf[pos:] if pos < n else b""
        if others:
            for frame in others:
                self.on_text(self, frame)

    # -- helpers ----------------------------------------------------------------------------
    def send_text(self, text: bytes) -> None:
        """Send one text frame (dropped silently if the connection is gone)."""
        if self.transport is not None:
            self.transport.write(client_frame(text))

    def close(self) -> None:
        """Abort the connection (the bench tears down thousands at once; no close handshake)."""
        if self.transport is not None:
            self.transport.abort()

    def _handshake(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 16384:
                self.sink.error("handshake response headers too large")
                self.close()
            return
        head, rest = self.buf[:end], self.buf[end + 4 :]
        self.buf = b""
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            self.sink.error(f"handshake refused: {status.decode(errors='replace')}")
            self.close()
            return
        self.upgraded = True
        if not self.opened.done():
            self.opened.set_result(None)
        self.on_open(self)
        if rest:
            self.data_received(rest)

    def _control(self, b0: int, body: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode == 0x9:  # ping: answer with the same body
            if self.transport is not None:
                self.transport.write(client_frame(body, 0xA))
        elif opcode == 0x8:  # close
            code = int.from_bytes(body[:2], "big") if len(body) >= 2 else 1005
            self.sink.error(
                f"server closed a connection: {code} {body[2:].decode(errors='replace')}"
            )
            self.close()
        elif opcode != 0xA:
            self.sink.error(f"unexpected frame 0x{b0:02x} (fragmented or binary)")
