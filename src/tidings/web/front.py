"""The front door of the main port: one ``asyncio.Protocol`` per TCP connection.

It reads the request head (parsed by ``httptools``, the C parser uvicorn uses)
and decides who serves the connection:

- a WebSocket upgrade on a wire's path (``/app/{key}``, ``/v3/{channel}``) with
  a handshake RFC 6455 accepts: ``tidings.web.websocket`` from here on, with no
  HTTP machinery left behind (an idle connection costs a few KiB, not aiohttp's
  ~15 KiB);
- a request the fast path serves (the HTTP API's publishes): answered here,
  and the next request on the connection is read here again;
- anything else, from the first byte of that request on: aiohttp
  (``tidings.web.http_protocol``), which serves the whole HTTP API, health and
  every error answer, exactly as before. The fast path hands a request over
  too whenever it would answer with an error, so every refusal comes from one
  place.

A connection that sends no complete request head within ``handshake_timeout``
is closed (aiohttp's ``keepalive_timeout`` does the same once it has one).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from typing import Final, cast
from urllib.parse import unquote

import httptools
import structlog
from multidict import CIMultiDict, MultiDict

from tidings.protocol import rfc6455
from tidings.web.eager import start_eagerly
from tidings.web.fast_http import BUG_REPLY, FastPath, HttpRequest, query_pairs, render_reply
from tidings.web.state import ServerState
from tidings.web.transports import break_transport_cycle, socket_transport
from tidings.web.websocket import WebSocketProtocol
from tidings.wires.base import Handshake, Wire

__all__ = ["FrontDoor", "Reception"]

log = structlog.get_logger(__name__)

#: Request heads longer than this go to aiohttp, which answers them (or refuses
#: them with its own limits: 8190-byte lines).
MAX_HEAD: Final = 8 * 1024
_WS_VERSIONS: Final = frozenset(("13", "8", "7"))  # what aiohttp accepted
# A request with one of these is aiohttp's: a chunked body, a 100-continue.
_NOT_FAST_HEADERS: Final = frozenset((b"transfer-encoding", b"expect"))


class _Head:
    """Collects one request head from httptools' callbacks."""

    __slots__ = ("headers", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))


def _route_pattern(path: str) -> re.Pattern[str]:
    """``/app/{key}`` as a regex on the raw path (aiohttp's ``{name}``: no ``/``)."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^{}/]+)", re.escape(path)))


class Reception:
    """What every front door of one listener shares.

    Args:
        fallback: makes aiohttp's protocol for a connection handed over.
        fast: the fast path, or ``None`` to hand every plain request over.
        max_body: how much the fast path reads ahead behind a request that waits.
    """

    def __init__(
        self,
        state: ServerState,
        wires: Sequence[Wire],
        fallback: Callable[[], asyncio.Protocol],
        fast: FastPath | None = None,
        max_body: int = 1024 * 1024,
    ) -> None:
        self.state = state
        self.routes = [(_route_pattern(wire.path), wire) for wire in wires]
        self.fallback = fallback
        self.fast = fast
        self.max_body = max_body
        self.timeout = state.settings.handshake_timeout
        # Kept: asyncio.get_running_loop() costs a getpid() system call on 3.11.
        self.loop = asyncio.get_running_loop()
        self.doors: set[FrontDoor] = set()  # connections still reading request heads

    def __call__(self) -> FrontDoor:
        """The protocol factory for ``loop.create_server``."""
        return FrontDoor(self)

    def close(self) -> None:
        """Close every connection still at the front door (idle keep-alive ones included)."""
        for door in list(self.doors):
            door.close()


class FrontDoor(asyncio.Protocol):
    """Reads request heads until the connection is a WebSocket or aiohttp's."""

    __slots__ = ("_buffer", "_busy", "_deadline", "_reception", "_timer", "_transport")

    def __init__(self, reception: Reception) -> None:
        self._reception = reception
        self._buffer = bytearray()
        self._busy = False  # the fast path is serving a request
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
        self._transport = cast(asyncio.Transport, transport)
        self._reception.doors.add(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._advance()
        elif len(self._buffer) > self._reception.max_body + MAX_HEAD and self._transport:
            # Pipelined requests behind one that waits: read no more until it is answered.
            self._transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close: the client will send no (more) request

    def connection_lost(self, exc: BaseException | None) -> None:
        self._leave()
        self._buffer.clear()
        if self._transport is not None:
            break_transport_cycle(socket_transport(self._transport))
            self._transport = None

    def close(self) -> None:
        """Close the connection (the server is stopping)."""
        if self._transport is not None:
            self._transport.close()

    def _leave(self) -> None:
        """The connection is no longer this door's: it went elsewhere or it is gone."""
        self._disarm()
        self._reception.doors.discard(self)

    # -- timing ----------------------------------------------------------------------

    def _arm(self) -> None:
        """Start the wait for a (next) request head; one timer, moved on, not remade."""
        loop = self._reception.loop
        self._deadline = loop.time() + self._reception.timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._transport is None:
            return
        loop = self._reception.loop
        if self._busy:  # a request is being served: the wait starts after it
            self._deadline = loop.time() + self._reception.timeout
        if self._deadline > loop.time():
            self._timer = loop.call_at(self._deadline, self._timed_out)
            return
        if self._buffer:
            self._hand_over()  # aiohttp's own timeouts and answers from here
        else:
            self._transport.close()

    # -- requests ----------------------------------------------------------------------

    def _advance(self) -> None:
        """Serve what the buffer holds: a head, then the body the fast path needs."""
        transport = self._transport
        while transport is not None and self._buffer and not transport.is_closing():
            buffer = self._buffer
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD)
            if end < 0:
                if len(buffer) >= MAX_HEAD:
                    self._hand_over()
                return
            head_size = end + 4
            head = _Head()
            parser = httptools.HttpRequestParser(head)
            upgrade = False
            try:
                parser.feed_data(bytes(buffer[:head_size]))
            except httptools.HttpParserUpgrade:
                upgrade = True
            except httptools.HttpParserError:
                self._hand_over()
                return
            method = parser.get_method().decode()
            if parser.get_http_version() != "1.1":
                self._hand_over()
                return
            raw_path, _, query_string = head.url.decode("latin-1").partition("?")
            if upgrade:
                if not self._upgrade(method, raw_path, query_string, head.headers, head_size):
                    self._hand_over()
                return
            if not self._fast(method, raw_path, query_string, head.headers, head_size, parser):
                return

    def _fast(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        headers: list[tuple[bytes, bytes]],
        head_size: int,
        parser: httptools.HttpRequestParser,
    ) -> bool:
        """Serve one request on the fast path; whether the next one may be read now."""
        reception = self._reception
        lengths = []
        plain = reception.fast is not None and method == "POST"
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.append(value)
            elif lowered in _NOT_FAST_HEADERS:
                plain = False
        if not plain or len(lengths) != 1 or not lengths[0].isdigit():
            self._hand_over()
            return False
        size = head_size + int(lengths[0])
        if len(self._buffer) < size:
            # A body not in with its head (big, slow or stalled) is aiohttp's: it
            # has the body deadline (408) and the size limit (413). SDKs send a
            # publish's head and body in one write.
            self._hand_over()
            return False
        body = bytes(self._buffer[head_size:size])
        path = unquote(raw_path) if "%" in raw_path else raw_path
        request = HttpRequest(method, path, raw_path, query_pairs(query_string), body)
        self._busy = True
        task = start_eagerly(self._serve(request, size, parser.should_keep_alive()))
        if task is None:
            return True
        task.add_done_callback(self._served)
        return False

    def _served(self, task: asyncio.Task[None]) -> None:
        """A request that had to wait is answered: read the ones that came meanwhile."""
        if self._transport is not None:
            self._transport.resume_reading()  # a no-op unless data_received paused it
        self._advance()

    async def _serve(self, request: HttpRequest, size: int, keep_alive: bool) -> None:
        fast = self._reception.fast
        assert fast is not None
        try:
            reply = await fast(request)
        except Exception:
            log.exception("http fast path failed", path=request.path)
            reply, keep_alive = BUG_REPLY, False
        finally:
            self._busy = False
        transport = self._transport
        if transport is None:
            return
        if reply is None:
            self._hand_over()
            return
        del self._buffer[:size]
        transport.write(render_reply(reply, close=not keep_alive))
        if not keep_alive:
            transport.close()
            return
        self._arm()

    def _upgrade(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        raw_headers: list[tuple[bytes, bytes]],
        head_size: int,
    ) -> bool:
        """Hand the connection to a wire's WebSocket endpoint; ``False`` if it is not one."""
        transport = self._transport
        assert transport is not None
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in raw_headers
        )
        key = headers.get("Sec-WebSocket-Key", "")
        if (
            method != "GET"
            or headers.get("Upgrade", "").lower().strip() != "websocket"
            or "upgrade" not in headers.get("Connection", "").lower()
            or headers.get("Sec-WebSocket-Version") not in _WS_VERSIONS
            or not rfc6455.valid_client_key(key)
        ):
            return False
        found = next(
            ((m, wire) for p, wire in self._reception.routes if (m := p.fullmatch(raw_path))),
            None,
        )
        if found is None:
            return False
        match, wire = found
        params = {name: unquote(value) for name, value in match.groupdict().items()}
        query = MultiDict(query_pairs(query_string))
        handshake = Handshake(params, query, headers, time.time())
        tail = bytes(self._buffer[head_size:])
        self._leave()
        self._buffer = bytearray()
        self._transport = None  # the connection is the WebSocket's now
        peer = transport.get_extra_info("peername")
        remote = peer[0] if isinstance(peer, tuple) else None
        protocol = WebSocketProtocol(self._reception.state, transport)
        transport.set_protocol(protocol)
        protocol.start(wire, handshake, rfc6455.accept_key(key), headers.get("Origin"), remote)
        if tail:
            protocol.data_received(tail)
        return True

    def _hand_over(self) -> None:
        """Give the connection to aiohttp, from the first byte of the current request on."""
        transport = self._transport
        if transport is None:
            return
        self._leave()
        self._transport = None
        data, self._buffer = bytes(self._buffer), bytearray()
        handler = self._reception.fallback()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if data:
            handler.data_received(data)
