"""The webhook delivery log on the admin API.

- ``GET /api/apps/{app_id}/webhooks/deliveries?limit=N``: the app's latest N
  deliveries (default 50, at most 500), newest first: id, url, event names,
  attempts, status, last status code, error, timestamps (Unix seconds);
- ``POST /api/apps/{app_id}/webhooks/deliveries/{delivery_id}/redeliver``: send a
  logged delivery's events again as a new delivery (202 with it).

Header values are never shown (they may carry a receiver's credentials).
"""

from __future__ import annotations

from aiohttp import web

from tidings.webhooks.service import WebhookService

__all__ = ["WEBHOOKS", "routes"]

WEBHOOKS: web.AppKey[WebhookService] = web.AppKey("webhooks", WebhookService)

_DEFAULT_LIMIT = 50
_MAX_LIMIT = 500

routes = web.RouteTableDef()


def _problem(status: int, error: str, hint: str) -> web.Response:
    return web.json_response({"error": error, "hint": hint}, status=status)


async def _known_app(request: web.Request) -> str | None:
    app_id = request.match_info["app_id"]
    service = request.app[WEBHOOKS]
    return app_id if await service.apps.by_id(app_id) is not None else None


@routes.get("/api/apps/{app_id}/webhooks/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """The app's latest deliveries, newest first."""
    app_id = await _known_app(request)
    if app_id is None:
        return _problem(404, "unknown app", "GET /api/apps lists the apps")
    raw = request.query.get("limit", str(_DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_LIMIT:
        return _problem(
            400, f"limit must be an integer from 1 to {_MAX_LIMIT}", f"got {raw[:40]!r}"
        )
    found = await request.app[WEBHOOKS].recent(app_id, limit)
    return web.json_response({"deliveries": [d.view() for d in found]})


@routes.post("/api/apps/{app_id}/webhooks/deliveries/{delivery_id}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    """Queue a logged delivery's events again; 202 with the new delivery."""
    app_id = await _known_app(request)
    if app_id is None:
        return _problem(404, "unknown app", "GET /api/apps lists the apps")
    delivery_id = request.match_info["delivery_id"]
    new = await request.app[WEBHOOKS].redeliver(app_id, delivery_id)
    if new is None:
        return _problem(
            404,
            "unknown delivery",
            f"GET /api/apps/{app_id}/webhooks/deliveries lists the ones still in the log",
        )
    return web.json_response({"delivery": new.view()}, status=202)
