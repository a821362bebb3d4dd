"""Client-frame checks that aiohttp's WebSocket reader does not make (RFC 6455).

aiohttp's reader accepts unmasked client frames (§5.1: the server MUST close the
connection) and close codes a peer may never send (1005, 1006 and 1015, §7.4.1)
or that no range defines (5000 and up), which it answers with 1000.
``GuardedWebSocketResponse`` puts a ``FrameGuard`` in front of the reader: the
guard walks the frame headers only (payload bytes are counted, not copied or
unmasked, except the two code bytes of a close frame), and on a violation writes
a close frame 1002 and closes the TCP connection; the endpoint's receive loop
then ends as for any closed connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.http_websocket import WebSocketWriter
from aiohttp.web_request import BaseRequest

from tidings.protocol.frames import close_frame
from tidings.web.noise import network_noise
from tidings.web.writer import Traffic

__all__ = ["FrameGuard", "GuardedWebSocketResponse", "PROTOCOL_ERROR"]

PROTOCOL_ERROR: Final = 1002

# Codes a client may send (RFC 6455 §7.4.1 and IANA's registry); 3000-4999 are
# for libraries and applications.
_SENDABLE_CLOSE_CODES: Final = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)
_OPCODE_CLOSE: Final = 0x8
_MAX_CONTROL_PAYLOAD: Final = 125


def close_code_problem(code: int) -> str | None:
    """Why a client may not send close ``code``, or ``None`` when it may."""
    if code in _SENDABLE_CLOSE_CODES or 3000 <= code <= 4999:
        return None
    if code in (1005, 1006, 1015):
        return f"close code {code} is reserved: an endpoint must not send it (RFC 6455 7.4.1)"
    return f"close code {code} is not defined (RFC 6455 7.4)"


class FrameGuard:
    """Checks the client frames in a byte stream before aiohttp's reader parses them.

    It has the two methods aiohttp's connection calls on a WebSocket parser:
    ``feed_data`` and ``feed_eof``. Once a violation is found, ``fail`` runs
    (once) and every later byte is dropped.

    Args:
        inner: aiohttp's ``WebSocketReader``.
        fail: called with the problem; must close the connection.
    """

    __slots__ = ("_fail", "_head", "_inner", "_skip", "_traffic", "failed")

    def __init__(
        self, inner: Any, fail: Callable[[str], None], traffic: Traffic | None = None
    ) -> None:
        self._inner = inner
        self._traffic = traffic if traffic is not None else Traffic()
        self._fail = fail
        self._head = b""  # the start of a frame whose header (or close payload) is incomplete
        self._skip = 0  # payload bytes of the current frame not received yet
        self.failed = False

    def feed_eof(self) -> None:
        """The connection ended: tell the reader."""
        self._inner.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        """Check ``data``, then hand it to the reader (nothing once a frame was refused)."""
        if self.failed:
            return False, b""
        self._traffic.bytes_in += len(data)  # once per socket read, headers included
        problem = self._scan(data)
        if problem is not None:
            self.failed = True
            self._fail(problem)
            return False, b""
        result: tuple[bool, bytes] = self._inner.feed_data(data)
        return result

    def _scan(self, data: bytes) -> str | None:
        """Walk the frame headers in ``data``; the first problem found, or ``None``."""
        if self._head:
            data = self._head + data
            self._head = b""
        end = len(data)
        pos = self._skip  # the next frame starts after the rest of the current payload
        while pos < end:
            if end - pos < 2:
                break
            first, second = data[pos], data[pos + 1]
            if not second & 0x80:
                return "client frames must be masked (RFC 6455 5.1)"
            length = second & 0x7F
            header = 6
            if length == 126:
                header = 8
                if end - pos < header:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            elif length == 127:
                header = 14
                if end - pos < header:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            if end - pos < header:
                break
            if first & 0x0F == _OPCODE_CLOSE and 2 <= length <= _MAX_CONTROL_PAYLOAD:
                # Longer close frames are refused by aiohttp itself; short ones
                # are checked here, once the two code bytes have arrived.
                if end - pos < header + 2:
                    break
                mask = data[pos + header - 4 : pos + header]
                code = ((data[pos + header] ^ mask[0]) << 8) | (data[pos + header + 1] ^ mask[1])
                problem = close_code_problem(code)
                if problem is not None:
                    return problem
            elif first & 0x0F == _OPCODE_CLOSE and length == 1:
                return "a close frame body is a 2-byte code and a reason, not 1 byte"
            pos += header + length
        if pos >= end:
            self._skip = pos - end
        else:
            self._skip = 0
            self._head = data[pos:]
        return None


def _fail_connection(transport: asyncio.BaseTransport, peer: str | None, problem: str) -> None:
    """Fail the WebSocket connection (RFC 6455 7.1.7): close frame 1002, then close."""
    network_noise("websocket protocol violation", peer=peer, problem=problem)
    # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
    writer = cast(asyncio.WriteTransport, transport)
    if not writer.is_closing():
        writer.write(close_frame(PROTOCOL_ERROR, problem))
        writer.close()


class GuardedWebSocketResponse(web.WebSocketResponse):
    """An aiohttp ``WebSocketResponse`` whose client frames pass a ``FrameGuard`` first.

    Set ``traffic`` before ``prepare`` to count the bytes received in it.
    """

    traffic: Traffic | None = None

    def _post_start(
        self, request: BaseRequest, protocol: str | None, writer: WebSocketWriter
    ) -> None:
        # aiohttp's set_parser() feeds the bytes that came with the upgrade
        # request straight to its reader: hold them back, install the guard,
        # then feed them through it.
        handler = request.protocol
        tail, handler._message_tail = handler._message_tail, b""
        super()._post_start(request, protocol, writer)
        transport = request.transport
        assert transport is not None  # prepare() checked it
        guard = FrameGuard(
            handler._payload_parser,
            lambda problem: _fail_connection(transport, request.remote, problem),
            self.traffic,
        )
        handler._payload_parser = guard
        if tail:
            guard.feed_data(tail)
