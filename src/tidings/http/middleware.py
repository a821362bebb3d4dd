"""The main listener's error middleware: every rejection is ``{"error", "hint"}`` JSON.

``TidingsError`` subclasses carry their status; aiohttp's own 404/405/413 get a body
that says what to do; a 429, and a 503 of a full outage buffer, also carry
``Retry-After``. Anything else is a bug: aiohttp logs it (without locals, see
``tidings.logs``) and answers a bare 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from aiohttp import hdrs, web

from tidings.errors import BrokerBufferFull, RateLimitError, TidingsError, echoed

__all__ = ["WEBSOCKET_HANDLERS", "error_headers", "error_middleware"]

_DOCS_HINT: Final = "see docs/http-api.md for the endpoints and their parameters"

#: The WebSocket endpoints of the application, which report errors in their own protocol.
WEBSOCKET_HANDLERS = web.AppKey("websocket_handlers", frozenset[Callable[..., Any]])


@web.middleware
def error_middleware(request: web.Request, handler: Any) -> Awaitable[web.StreamResponse]:
    """Turn every ``TidingsError`` and aiohttp HTTP error into ``{"error", "hint"}`` JSON.

    A WebSocket upgrade of a WebSocket endpoint goes straight to its handler: the
    endpoints report their errors in their own protocol, and not wrapping them saves
    a suspended coroutine frame (~300 bytes) for each connection's whole life. An
    ``Upgrade`` header on any other route changes nothing.
    """
    if (
        request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        and request.match_info.handler in request.app[WEBSOCKET_HANDLERS]
    ):
        return cast(Awaitable[web.StreamResponse], handler(request))
    return _json_errors(request, handler)


async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except TidingsError as exc:
        return web.json_response(exc.to_json(), status=exc.http_status, headers=error_headers(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response(_http_error_body(request, exc), status=exc.status)


def error_headers(exc: TidingsError) -> dict[str, str] | None:
    """The headers of ``exc``'s answer: ``Retry-After`` when waiting helps."""
    if isinstance(exc, RateLimitError | BrokerBufferFull):
        return {hdrs.RETRY_AFTER: str(exc.retry_after)}
    return None


def _http_error_body(request: web.Request, exc: web.HTTPException) -> dict[str, str]:
    # aiohttp raises these before (or instead of) our handlers: say what to do.
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return {
            "error": f"request body too large: {exc.text}",
            "hint": "send less data per request (limits: docs/http-api.md#limits)",
        }
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return {
            "error": f"method {request.method} is not allowed on {echoed(request.path)}",
            "hint": f"use {allowed}",
        }
    default_text = f"{exc.status}: {exc.reason}"
    if isinstance(exc, web.HTTPNotFound) and exc.text in (default_text, None):
        return {
            "error": f"no such endpoint: {request.method} {echoed(request.path)}",
            "hint": _DOCS_HINT,
        }
    return {"error": exc.text or exc.reason}
