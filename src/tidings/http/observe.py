"""Request metrics and refused-request events for the main listener's HTTP API.

``observe_middleware`` is the outermost middleware: it sees the final status of
every HTTP request (the JSON errors included), counts it in ``ServerState.http``
with its latency, and, when someone listens (the debug log, a console), emits
``api_request_refused`` for a 4xx/5xx with the message the caller was told.
WebSocket upgrades of the WebSocket endpoints pass straight through (they are
counted as connections instead; see ``error_middleware`` for why they stay unwrapped).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from aiohttp import hdrs, web

from tidings.domain.events import ApiRequestRefused
from tidings.http.middleware import WEBSOCKET_HANDLERS
from tidings.typing import AppId
from tidings.web.state import STATE, ServerState

__all__ = ["observe_middleware", "record_answer"]


@web.middleware
def observe_middleware(request: web.Request, handler: Any) -> Awaitable[web.StreamResponse]:
    """Count and time every HTTP request (not WebSocket upgrades)."""
    if (
        request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        and request.match_info.handler in request.app[WEBSOCKET_HANDLERS]
    ):
        return cast(Awaitable[web.StreamResponse], handler(request))
    return _observed(request, handler)


def _endpoint(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None:  # aiohttp's 404/405 routes have none
        return "unmatched"
    return resource.canonical


async def _observed(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        record_answer(
            request.app[STATE],
            AppId(request.match_info.get("app_id", "")),
            request.method,
            _endpoint(request),
            status,
            started,
            lambda: _error(response),
        )


def record_answer(
    state: ServerState,
    app_id: AppId,
    method: str,
    endpoint: str,
    status: int,
    started: float,
    error: Callable[[], str],
) -> None:
    """Count one answered request in ``state.http`` (timed from ``started``, a
    ``perf_counter`` reading); a 4xx/5xx also goes to the bus as ``api_request_refused``
    when someone listens (``error()`` is then asked for what the caller was told)."""
    state.http.record(endpoint, method, status, time.perf_counter() - started)
    bus = state.node.bus
    if status >= 400 and bus.wants(ApiRequestRefused):
        bus.emit(ApiRequestRefused(app_id, method, endpoint, status, error()))


def _error(response: web.StreamResponse | None) -> str:
    """The ``error`` of a JSON error answer (what the caller was told), else ``""``."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):
        return ""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) else ""
