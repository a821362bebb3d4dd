"""The HTTP API's publishes (``events``, ``batch_events``), served by the front door.

A publish is the request a backend sends most, often for one subscriber
(``private-user-123``): aiohttp's request, router, middlewares and response
objects cost several times the publish itself. ``FastPublish`` serves the
common case from the bytes the front door (``tidings.web.front``) read, with
the same checks in the same order as ``pusher_api``: the app, duplicated query
keys, the signature, the app's switch, the body, the rate limit.

Whenever the answer would not be a plain success (any refusal, or ``info``
asked for, which needs counts), it returns ``None`` before doing anything, and
aiohttp serves the request from its first byte: every error answer still comes
from ``pusher_api`` and its middlewares. Only a failure of the publish itself
(a full outage buffer: 503), after the rate limit was charged, is answered here,
as the error middleware would.
"""

from __future__ import annotations

import re
import time
from typing import Final

import orjson

from tidings.domain.messages import Publication
from tidings.errors import TidingsError
from tidings.http.auth import verify_request
from tidings.http.guard import RateLimits, refuse_duplicated_keys, signed_paths
from tidings.http.middleware import error_headers
from tidings.http.observe import record_answer
from tidings.http.pusher_api import (
    batch_publications,
    event_publications,
    info_attributes,
    parse_json_object,
)
from tidings.web.fast_http import HttpReply, HttpRequest
from tidings.web.state import ServerState

__all__ = ["FastPublish"]

# aiohttp's route names, for the metrics: the same series whoever served it.
_ENDPOINTS: Final = {
    "events": "/apps/{app_id}/events",
    "batch_events": "/apps/{app_id}/batch_events",
}
_ROUTE: Final = re.compile(r"/apps/(?P<app_id>[^{}/%]+)/(?P<kind>events|batch_events)")
_DONE: Final = HttpReply(200, b"{}")


class FastPublish:
    """The front door's fast path: ``await fast(request)`` -> a reply, or ``None``.

    Args:
        limits: the rate limits the aiohttp handlers charge too (one per process).
    """

    def __init__(self, state: ServerState, limits: RateLimits) -> None:
        self._state = state
        self._limits = limits

    async def __call__(self, request: HttpRequest) -> HttpReply | None:
        started = time.perf_counter()
        match = _ROUTE.fullmatch(request.raw_path)
        if match is None:
            return None
        state = self._state
        app = await state.node.apps.by_id(match["app_id"])
        if app is None or not app.enabled:
            return None
        try:
            refuse_duplicated_keys(request.query)
            query = dict(request.query)
            verify_request(
                app,
                method=request.method,
                paths=signed_paths(request.path, request.raw_path, state.settings.path_prefix),
                params=query,
                body=request.body,
                now=time.time(),
            )
            payload = parse_json_object(request.body)
            pubs: list[Publication]
            if match["kind"] == "events":
                pubs = event_publications(app, payload)
                if info_attributes(payload.get("info", query.get("info"))):
                    return None
            else:
                checked = batch_publications(app, payload)
                if any(wanted for _, wanted in checked):
                    return None
                pubs = [pub for pub, _ in checked]
            self._limits.charge_events(app, len(pubs))
        except TidingsError:
            return None  # aiohttp answers it, exactly as it always has
        endpoint = _ENDPOINTS[match["kind"]]
        node = state.node
        try:
            for pub in pubs:
                await node.publish(pub)
        except TidingsError as exc:
            reply = HttpReply(
                exc.http_status,
                orjson.dumps(exc.to_json()),
                tuple((error_headers(exc) or {}).items()),
            )
            message = exc.message
            record_answer(state, app.id, "POST", endpoint, reply.status, started, lambda: message)
            return reply
        record_answer(state, app.id, "POST", endpoint, 200, started, str)
        return _DONE
