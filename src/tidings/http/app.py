"""Build the aiohttp application that serves the main port."""

from __future__ import annotations

from aiohttp import web

from tidings.http import health, piesocket_api, pusher_api
from tidings.server.piesocket_ws import piesocket_endpoint
from tidings.server.pusher_ws import pusher_endpoint
from tidings.server.state import STATE, ServerState

__all__ = ["build_app"]


def build_app(state: ServerState) -> web.Application:
    """The main-port application: WebSocket endpoints, the HTTP API and health.

    Routes are also served under ``settings.path_prefix`` when one is set.
    """
    settings = state.settings
    # A batch may carry max_batch_size events of max_payload_bytes each.
    payload, batch = (
        settings.app_default("max_payload_bytes"),
        settings.app_default("max_batch_size"),
    )
    max_body = payload * max(1, batch) + 64 * 1024
    app = web.Application(client_max_size=max_body, middlewares=[pusher_api.error_middleware])
    app[STATE] = state
    app.router.add_get("/app/{key}", pusher_endpoint)
    app.router.add_routes(pusher_api.routes)
    app.router.add_routes(pusher_api.prefixed_routes(settings.path_prefix))
    app.router.add_get("/v3/{channel}", piesocket_endpoint)
    app.router.add_routes(piesocket_api.routes)
    app.router.add_routes(health.routes)
    return app
