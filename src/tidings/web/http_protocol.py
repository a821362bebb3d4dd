"""aiohttp's HTTP protocol for one TCP connection, with what tidings adds to it.

- Replies aiohttp builds itself (malformed request line or headers, bad or
  duplicate ``Content-Length``, broken chunked encoding, oversized header lines,
  invalid methods) are ``{"error", "hint"}`` JSON instead of ``text/plain``, and
  are logged as one rate-limited ``info`` line instead of an ERROR with a
  traceback. A 500 that is tidings' own bug keeps aiohttp's ERROR log.
- When the connection is lost, the transport's own reference cycle is broken
  (``tidings.web.transports``), so it is freed at once instead of waiting for a
  full garbage collection.

The front door (``tidings.web.front``) hands a connection to this protocol when
it is neither a WebSocket upgrade nor a request its fast path serves.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong

from tidings.web.noise import network_noise
from tidings.web.transports import break_transport_cycle, socket_transport

__all__ = ["LINGER_SECONDS", "RequestHandler"]

#: After replying to a request whose body was not read to its end, aiohttp reads
#: and drops the rest for this long before closing (its default is 10 s), so the
#: reply is not lost to a TCP reset and a stalled client cannot hold on longer.
LINGER_SECONDS: Final = 1.0

_HINT = "send a well-formed HTTP/1.1 request; see docs/http-api.md"


def _client_fault(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the client's doing (bad bytes, a hang-up), not a server bug."""
    return isinstance(exc, HttpProcessingError | web.RequestPayloadError | ConnectionError)


def _garbage_reply(exc: BaseException | None, message: str | None) -> dict[str, str]:
    if isinstance(exc, LineTooLong):
        return {
            "error": f"request line or header too long: {exc.message}",
            "hint": "keep the URL and each header under 8 KiB",
        }
    if isinstance(exc, BadHttpMethod):
        return {"error": f"not an HTTP request: {exc.message}", "hint": _HINT}
    if isinstance(exc, HttpProcessingError):
        return {"error": f"malformed HTTP request: {exc.message}", "hint": _HINT}
    return {"error": f"bad request: {message or exc or 'unreadable'}", "hint": _HINT}


class RequestHandler(web.RequestHandler):
    """aiohttp's HTTP protocol for one TCP connection, with JSON replies to garbage."""

    __slots__ = ("_socket_transport",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._socket_transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._socket_transport = socket_transport(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        if self._socket_transport is not None:
            break_transport_cycle(self._socket_transport)
            self._socket_transport = None

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Answer a request aiohttp could not hand to the app (or whose handler failed)."""
        if status >= 500 and not _client_fault(exc):
            return super().handle_error(request, status, exc, message)
        if status >= 500:
            status = 400  # a payload error surfacing from a handler
        network_noise(
            "bad http request",
            status=status,
            peer=request.remote,
            problem=str(getattr(exc, "message", None) or exc or message)[:200],
        )
        if request.writer.output_size > 0:
            # A reply is already on its way: the connection can only be cut.
            raise ConnectionError("response already started")
        response = web.json_response(_garbage_reply(exc, message), status=status)
        response.force_close()
        return response
