"""The dashboard's routes: its page and files, and the admin API calls it needs beyond
``/api/status`` and the apps API (channels with members, the event creator, the console).

The page is static (``admin/static``: HTML, CSS and plain JavaScript, no build step,
nothing fetched from elsewhere) and talks only to the admin API, with the same
authentication as any other admin request.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final

import orjson
from aiohttp import web

from tidings.admin.console import CONSOLES, Consoles, console_stream
from tidings.admin.keys import STATE
from tidings.apps.base import App
from tidings.broker.base import Broker
from tidings.domain.channels import ChannelKind, channel_kind, name_problem
from tidings.domain.messages import Publication
from tidings.errors import TidingsError
from tidings.typing import ChannelName

__all__ = ["add_dashboard_routes"]

_STATIC: Final = resources.files("tidings.admin") / "static"
_TYPES: Final = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_FILES: Final = ("index.html", "dashboard.js", "dashboard.css")


def _error(status: int, error: str, hint: str) -> web.Response:
    return web.json_response({"error": error, "hint": hint}, status=status)


def _file(name: str) -> web.Response:
    suffix = name[name.rfind(".") :]
    body = (_STATIC / name).read_bytes()
    return web.Response(
        body=body,
        content_type=_TYPES[suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


async def _index(request: web.Request) -> web.Response:
    return _file("index.html")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _FILES:
        return _error(404, f"no such file: {name[:60]!r}", "the dashboard is at /")
    return _file(name)


async def _app(request: web.Request) -> App | web.Response:
    app_id = request.match_info["app_id"]
    app = await request.app[STATE].node.apps.by_id(app_id)
    if app is None:
        return _error(404, f"no app has the id {app_id[:40]!r}", "GET /api/status lists them")
    return app


async def _channels(request: web.Request) -> web.Response:
    """Occupied channels of one app, cluster-wide, with subscription counts (and, on
    presence channels, user counts; on history channels, the position and how many
    events are kept)."""
    app = await _app(request)
    if isinstance(app, web.Response):
        return app
    node = request.app[STATE].node
    counts = await node.channels(app.id)
    presence = [c for c in counts if channel_kind(c) is ChannelKind.PRESENCE]
    users = await node.presence.store.counts(app.id, presence) if presence else {}
    return web.json_response(
        {
            "channels": dict(sorted(counts.items())),
            "user_counts": {channel: users.get(channel, 0) for channel in presence},
            "history": await _history(node.broker, app, sorted(counts)),
        }
    )


#: History channels the channel view reads positions of (one small read each).
_HISTORY_ROWS = 100


async def _history(broker: Broker, app: App, channels: list[ChannelName]) -> dict[str, Any]:
    """``{channel: {"serial", "stream_id", "kept"}}`` for the app's history channels."""
    out: dict[str, Any] = {}
    for channel in [c for c in channels if app.keeps_history(c)][:_HISTORY_ROWS]:
        try:
            page = await broker.history(app.id, channel, 0, 1)  # the position and oldest event
        except TidingsError:
            continue  # the store is away: the row shows no position
        first = page.events[0].serial if page.events else None
        kept = 0 if first is None else page.position.serial - first + 1
        position = page.position
        out[channel] = {"serial": position.serial, "stream_id": position.stream_id, "kept": kept}
    return out


async def _members(request: web.Request) -> web.Response:
    """The members of one presence channel: ``{"members": {user_id: user_info}}``."""
    app = await _app(request)
    if isinstance(app, web.Response):
        return app
    channel = request.match_info["channel"]
    if name_problem(channel) is not None or channel_kind(channel) is not ChannelKind.PRESENCE:
        return _error(400, f"{channel[:60]!r} is not a presence channel", "use presence-...")
    members = await request.app[STATE].node.members(app.id, ChannelName(channel))
    return web.Response(
        body=orjson.dumps({"members": members}, default=str), content_type="application/json"
    )


def _publication(app: App, body: Any) -> Publication | web.Response:
    """The event creator's publish, checked like the HTTP API checks one."""
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object", '{"channel", "event", "data"}')
    channel, event, data = body.get("channel"), body.get("event"), body.get("data", "")
    problem = name_problem(channel)
    if problem is not None:
        return _error(400, f"channel: {problem}", "1-200 characters of a-z A-Z 0-9 _ - = @ , . ;")
    if not isinstance(event, str) or not event or len(event) > app.max_event_name_length:
        return _error(400, "event: a name is needed", f"1-{app.max_event_name_length} characters")
    if not isinstance(data, str):
        return _error(400, "data must be text", "send the data as a string (often JSON text)")
    if len(data.encode()) > app.max_payload_bytes:
        return _error(413, "data is too large", f"at most {app.max_payload_bytes} bytes")
    assert isinstance(channel, str)
    return Publication(app.id, ChannelName(channel), event, orjson.dumps(data).decode())


async def _publish(request: web.Request) -> web.Response:
    """``POST /api/apps/{id}/events`` ``{"channel", "event", "data"}``: publish as the app's
    backend would (the console shows it as an API publish)."""
    app = await _app(request)
    if isinstance(app, web.Response):
        return app
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return _error(400, f"the body is not valid JSON ({exc})", "send a JSON object")
    pub = _publication(app, body)
    if isinstance(pub, web.Response):
        return pub
    await request.app[STATE].node.publish(pub)
    return web.json_response({"published": {"channel": pub.channel, "event": pub.event}})


def add_dashboard_routes(app: web.Application) -> None:
    """Mount the dashboard's page, files and API calls on the admin application."""
    consoles = Consoles()
    app[CONSOLES] = consoles
    app.on_shutdown.append(consoles.close_all)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/apps/{app_id}/channels", _channels)
    app.router.add_get("/api/apps/{app_id}/channels/{channel}/members", _members)
    app.router.add_post("/api/apps/{app_id}/events", _publish)
    app.router.add_get("/api/apps/{app_id}/console", console_stream)
