"""The admin listener: the dashboard (``/``), ``/metrics`` (Prometheus) and the admin JSON API.

It listens on ``admin_host:admin_port`` (loopback by default). When
``admin_password`` is set, every request needs it, as ``Authorization: Bearer
<password>`` or HTTP Basic (any user name). Without one, only loopback clients
are served (403 for others).
"""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from tidings.admin.apps_api import add_app_routes, error_middleware
from tidings.admin.counters import EventCounters
from tidings.admin.dashboard import add_dashboard_routes
from tidings.admin.keys import STATE
from tidings.admin.metrics import MetricsExporter
from tidings.admin.webhook_metrics import WebhookCollector
from tidings.admin.webhooks_api import WEBHOOKS
from tidings.admin.webhooks_api import routes as webhook_routes
from tidings.security import is_loopback
from tidings.typing import AppId
from tidings.version import __version__
from tidings.web.state import ServerState
from tidings.webhooks.service import WebhookService

__all__ = ["build_admin_app"]

_STARTED = web.AppKey("started", float)
_METRICS = web.AppKey("metrics", MetricsExporter)
_COUNTERS = web.AppKey("counters", EventCounters)


def _password_ok(header: str | None, password: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        given = value.strip()
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    else:
        return False
    return hmac.compare_digest(given.encode(), password.encode())


@web.middleware
async def _basic_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    password = request.app[STATE].settings.admin_password
    if password and not _password_ok(request.headers.get("Authorization"), password):
        return web.json_response(
            {
                "error": "admin password required",
                "hint": "send Authorization: Bearer <admin_password>, or HTTP basic auth with it",
            },
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="tidings admin"'},
        )
    if not password and not is_loopback(request.remote or ""):
        return web.json_response(
            {
                "error": "the admin API answers only loopback clients without a password",
                "hint": "set admin_password (TIDINGS_ADMIN_PASSWORD) to use it remotely",
            },
            status=403,
        )
    response: web.StreamResponse = await handler(request)
    return response


async def _metrics(request: web.Request) -> web.Response:
    body = await request.app[_METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _status(request: web.Request) -> web.Response:
    """Node id, version, uptime, broker state, peers and per-app figures.

    Per app: this node's connections and occupied channels, and the running totals
    of API events and client events (the dashboard turns them into messages/s), and
    how many webhooks the app has.
    """
    state = request.app[STATE]
    node = state.node
    counters = request.app[_COUNTERS]
    apps = []
    for app in await node.apps.all():
        key = (app.id,)
        apps.append(
            {
                "id": app.id,
                "enabled": app.enabled,
                "connections": node.connection_count(AppId(app.id)),
                "channels": len(node.hub.channels(AppId(app.id))),
                "api_events": counters.api_events.get(key, 0),
                "client_events": counters.client_events.get(key, 0),
                "webhooks": len(app.webhooks),
            }
        )
    return web.json_response(
        {
            "node_id": node.node_id,
            "version": __version__,
            "uptime_s": round(time.monotonic() - request.app[_STARTED], 1),
            "broker": {
                "kind": type(node.broker).__name__,
                "healthy": node.broker.healthy,
                "peers": await node.peers(),
            },
            "draining": state.draining,
            "connections": len(state.connections),
            "publications": node.stats.publications,
            "deliveries": node.stats.deliveries,
            "apps": apps,
        }
    )


def build_admin_app(
    state: ServerState,
    webhooks: WebhookService | None = None,
    counters: EventCounters | None = None,
) -> web.Application:
    """The admin application for one server (with its webhook delivery log, if given).

    Args:
        counters: the server's event totals (new ones, counting from now, by default).
    """
    app = web.Application(middlewares=[_basic_auth, error_middleware])
    app[STATE] = state
    app[_STARTED] = time.monotonic()
    counters = counters if counters is not None else EventCounters(state.node.bus)
    app[_COUNTERS] = counters
    app[_METRICS] = MetricsExporter(state, counters)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/api/status", _status)
    add_dashboard_routes(app)
    if webhooks is not None:
        app[WEBHOOKS] = webhooks
        app[_METRICS].registry.register(WebhookCollector(webhooks))
        app.router.add_routes(webhook_routes)
    add_app_routes(app)
    return app
