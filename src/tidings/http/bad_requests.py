"""What the main port answers to broken, slow or abandoned HTTP requests.

Two pieces, both about input from the network that is not the server's fault:

- ``RequestHandler``: aiohttp's per-connection HTTP protocol, except that the
  replies aiohttp builds itself (malformed request line or headers, bad or
  duplicate ``Content-Length``, broken chunked encoding, oversized header
  lines, invalid methods) are ``{"error", "hint"}`` JSON instead of
  ``text/plain``, and are logged as one rate-limited ``info`` line instead of an
  ERROR with a traceback. A 500 that is tidings' own bug keeps aiohttp's
  ERROR log.
- ``body_deadline``: a middleware that reads a request's body within
  ``timeout`` seconds (stalled or trickling bodies get 408 JSON and the
  connection is closed) and turns a malformed body or a client that hung up
  mid-body into a 400 or a quiet drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import hdrs, web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.typedefs import Handler, Middleware

from tidings.errors import TidingsError
from tidings.web.noise import network_noise

__all__ = ["LINGER_SECONDS", "RequestHandler", "RequestTimeout", "body_deadline"]

#: After replying to a request whose body was not read to its end, aiohttp reads
#: and drops the rest for this long before closing (its default is 10 s), so the
#: reply is not lost to a TCP reset and a stalled client cannot hold on longer.
LINGER_SECONDS = 1.0

_HINT = "send a well-formed HTTP/1.1 request; see docs/http-api.md"


class RequestTimeout(TidingsError):
    """The client did not send its request body in time."""

    http_status = 408


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


def body_deadline(timeout: float) -> Middleware:
    """A middleware that reads the request body within ``timeout`` seconds.

    The body is read (and cached by aiohttp, so handlers reading it again get
    it at once) before the handler runs. Too slow: ``RequestTimeout`` (408);
    the connection closes after the reply, as the rest of the body was never
    read (aiohttp lingers ``LINGER_SECONDS`` at most, discarding it, so the
    client can still read the reply). Bodiless requests (and so WebSocket
    upgrades) pass straight through.
    """

    @web.middleware
    def middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        # A bodiless request (every WebSocket upgrade) goes straight to its
        # handler: no coroutine frame of ours stays suspended for a connection's life.
        if not request.body_exists:
            return handler(request)
        return _read_then_handle(request, handler, timeout)

    return middleware


async def _read_then_handle(
    request: web.Request, handler: Handler, timeout: float
) -> web.StreamResponse:
    try:
        async with asyncio.timeout(timeout):
            await request.read()
    except TimeoutError:
        network_noise("http request body too slow", peer=request.remote, timeout=timeout)
        raise RequestTimeout(
            f"the request body did not arrive within {timeout:g} s",
            hint="send the whole body at once (TIDINGS_REQUEST_BODY_TIMEOUT sets the limit)",
        ) from None
    except (HttpProcessingError, web.RequestPayloadError) as exc:
        network_noise("bad http request body", peer=request.remote, problem=str(exc)[:200])
        raise TidingsError(
            f"malformed request body: {exc}",
            hint="send a Content-Length that matches the body, or valid chunked encoding",
        ) from None
    except ConnectionError:
        network_noise("client left mid-request", peer=request.remote, path=request.path)
        return web.Response(status=400, headers={hdrs.CONNECTION: "close"})
    return await handler(request)
