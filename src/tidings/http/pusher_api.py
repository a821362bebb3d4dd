"""The Pusher Channels HTTP API on the main port.

Every handler looks the app up, verifies the request signature, validates
limits and answers JSON; every rejection is ``{"error", "hint"}`` with a
proper status, never a 500.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from tidings.apps.base import App
from tidings.core.model import Publication
from tidings.errors import LimitError, NotFoundError, TidingsError
from tidings.http.auth import verify_request
from tidings.protocol.channels import name_problem
from tidings.server.state import STATE
from tidings.typing import ChannelName, SocketId

__all__ = ["error_middleware", "routes"]

routes = web.RouteTableDef()


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn every ``TidingsError`` into ``{"error", "hint"}`` JSON with its status."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except TidingsError as exc:
        return web.json_response(exc.to_json(), status=exc.http_status)


async def signed_app(request: web.Request, body: bytes) -> App:
    """The app named in the URL, after its request signature verified.

    Raises:
        NotFoundError: unknown app id (the hint names the ids that exist).
        AuthError: the signature check failed.
    """
    state = request.app[STATE]
    app_id = request.match_info["app_id"]
    app = await state.node.apps.by_id(app_id)
    if app is None:
        known = ", ".join(a.id for a in await state.node.apps.all())
        raise NotFoundError(f"app {app_id!r} does not exist", hint=f"known app ids: {known}")
    prefix = state.settings.path_prefix.rstrip("/")
    paths = (request.path, prefix + request.path) if prefix else (request.path,)
    verify_request(
        app,
        method=request.method,
        paths=paths,
        params=request.query,
        body=body,
        now=time.time(),
    )
    return app


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TidingsError(
            f"request body is not valid JSON: {exc}", hint="send a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise TidingsError("request body must be a JSON object", hint='e.g. {"name": ...}')
    return value


def event_publications(app: App, event: dict[str, Any]) -> list[Publication]:
    """Validate one event object (``name``, ``data``, ``channels``/``channel``, ``socket_id``).

    Raises:
        TidingsError / LimitError: with the field at fault and how to fix it.
    """
    name = event.get("name")
    if not isinstance(name, str) or not name:
        raise TidingsError("event name is missing", hint='set "name" to the event name')
    if len(name) > app.max_event_name_length:
        raise LimitError(
            f"event name is {len(name)} characters; the limit is {app.max_event_name_length}",
            http_status=400,
        )
    data = event.get("data")
    if not isinstance(data, str):
        raise TidingsError(
            '"data" must be a string', hint="JSON-encode the payload into a string first"
        )
    if len(data.encode()) > app.max_payload_bytes:
        raise LimitError(
            f"event data is {len(data.encode())} bytes; the limit is {app.max_payload_bytes}",
            hint="send less data per event, or raise max_payload_bytes for the app",
        )
    channels = event.get("channels")
    if channels is None and "channel" in event:
        channels = [event["channel"]]
    if not isinstance(channels, list) or not channels:
        raise TidingsError(
            '"channels" must be a non-empty list', hint='e.g. "channels": ["my-channel"]'
        )
    if len(channels) > app.max_channels_per_event:
        raise LimitError(
            f"{len(channels)} channels in one event; the limit is {app.max_channels_per_event}",
            hint="split the publish into several requests",
            http_status=400,
        )
    for channel in channels:
        problem = name_problem(channel)
        if problem is not None:
            raise TidingsError(problem, hint="fix the channel name")
    socket_id = event.get("socket_id")
    if socket_id is not None and not isinstance(socket_id, str):
        raise TidingsError('"socket_id" must be a string')
    encoded = orjson.dumps(data).decode()
    sid = SocketId(socket_id) if socket_id else None
    return [Publication(app.id, ChannelName(c), name, encoded, socket_id=sid) for c in channels]


@routes.post("/apps/{app_id}/events")
async def trigger_event(request: web.Request) -> web.Response:
    """Publish one event to 1–100 channels."""
    state = request.app[STATE]
    body = await request.read()
    app = await signed_app(request, body)
    for pub in event_publications(app, parse_json_object(body)):
        await state.node.publish(pub)
    return web.json_response({})
