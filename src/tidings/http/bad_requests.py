"""Slow, malformed or abandoned HTTP request bodies (the middleware ``body_deadline``).

It reads a request's body within ``timeout`` seconds (stalled or trickling
bodies get 408 JSON and the connection is closed) and turns a malformed body or
a client that hung up mid-body into a 400 or a quiet drop, with one
rate-limited info line instead of an ERROR. Malformed request lines and headers
never reach the app: ``tidings.web.http_protocol`` answers those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

from tidings.errors import TidingsError
from tidings.web.noise import network_noise

__all__ = ["RequestTimeout", "body_deadline"]


class RequestTimeout(TidingsError):
    """The client did not send its request body in time."""

    http_status = 408


def body_deadline(timeout: float) -> Middleware:
    """A middleware that reads the request body within ``timeout`` seconds.

    The body is read (and cached by aiohttp, so handlers reading it again get
    it at once) before the handler runs. Too slow: ``RequestTimeout`` (408);
    the connection closes after the reply, as the rest of the body was never
    read (aiohttp lingers ``http_protocol.LINGER_SECONDS`` at most, discarding it, so the
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
