"""Request metrics and refused-request events for the main listener's HTTP API.

``record_answer`` is called once per answered HTTP request (``tidings.http.service``):
it counts the request in ``ServerState.http`` with its latency, and, when someone
listens (the debug log, a console), emits ``api_request_refused`` for a 4xx/5xx
with the message the caller was told. WebSocket upgrades are not counted here
(they are connections, counted as such).
"""

from __future__ import annotations

import time

from tidings.domain.events import ApiRequestRefused
from tidings.typing import AppId
from tidings.web.reply import Reply
from tidings.web.state import ServerState

__all__ = ["record_answer"]


def record_answer(
    state: ServerState, app_id: AppId, method: str, endpoint: str, reply: Reply, started: float
) -> None:
    """Count one answered request in ``state.http``, timed from ``started`` (a
    ``perf_counter`` reading); a 4xx/5xx also goes to the bus as ``api_request_refused``
    when someone listens, with ``reply.error`` (what the caller was told).

    Args:
        endpoint: the route's template (``/apps/{app_id}/events``), so the number of
            series is bounded by the routes, never by what clients send.
    """
    status = reply.status
    state.http.record(endpoint, method, status, time.perf_counter() - started)
    bus = state.node.bus
    if status >= 400 and bus.wants(ApiRequestRefused):
        bus.emit(ApiRequestRefused(app_id, method, endpoint, status, reply.error))
