"""The Pusher Channels HTTP API on the main port.

Every handler looks the app up and verifies the request signature
(``tidings.http.guard``, which also applies the per-app rate limits), validates
limits and answers JSON exactly as Pusher documents it. Every rejection is
``{"error", "hint"}`` with a proper status (aiohttp's own 404/405/413 too),
never a 500. The routes are also served under ``settings.path_prefix``, for
proxies that forward the prefixed path unchanged (see docs/http-api.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson
from aiohttp import web

from tidings.apps.base import App
from tidings.domain.channels import ChannelKind, channel_kind, name_problem
from tidings.domain.messages import Publication
from tidings.errors import LimitError, TidingsError
from tidings.http.guard import RATE_LIMITS, keyed_app, signed_app
from tidings.typing import AppId, ChannelName, SocketId, UserId
from tidings.web.state import STATE

__all__ = [
    "batch_publications",
    "event_publications",
    "info_attributes",
    "parse_json_object",
    "prefixed_routes",
    "routes",
]

routes = web.RouteTableDef()

INFO_ATTRIBUTES: Final = ("user_count", "subscription_count")


def prefixed_routes(prefix: str) -> list[web.RouteDef]:
    """The HTTP API routes again, under ``prefix`` (``""`` gives none)."""
    if not prefix:
        return []
    result = []
    for route in routes:
        assert isinstance(route, web.RouteDef)
        result.append(web.RouteDef(route.method, prefix + route.path, route.handler, route.kwargs))
    return result


# -- validation ---------------------------------------------------------------------


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


def info_attributes(value: object) -> frozenset[str]:
    """The ``info`` parameter (``"user_count,subscription_count"``) as a set.

    Raises:
        TidingsError: 400 for a non-string or an unknown attribute.
    """
    if value is None or value == "":
        return frozenset()
    if not isinstance(value, str):
        raise TidingsError('"info" must be a string', hint='e.g. "user_count,subscription_count"')
    wanted = frozenset(a.strip() for a in value.split(",") if a.strip())
    unknown = sorted(wanted - set(INFO_ATTRIBUTES))
    if unknown:
        raise TidingsError(
            f"unknown info attribute {unknown[0]!r}",
            hint=f"info takes a comma-separated list of {', '.join(INFO_ATTRIBUTES)}",
        )
    return wanted


def _valid_channel(name: object) -> ChannelName:
    problem = name_problem(name)
    if problem is not None:
        raise TidingsError(
            problem, hint="channel names are 1-200 characters of a-z A-Z 0-9 _ - = @ , . ;"
        )
    assert isinstance(name, str)
    return ChannelName(name)


def event_publications(
    app: App, event: dict[str, Any], *, single_channel: bool = False
) -> list[Publication]:
    """Validate one event object (``name``, ``data``, ``channels``/``channel``, ``socket_id``).

    Args:
        single_channel: batch events name exactly one ``channel``.

    Raises:
        TidingsError / LimitError: with the field at fault and how to fix it.
    """
    name = event.get("name")
    if not isinstance(name, str) or not name:
        raise TidingsError("event name is missing", hint='set "name" to the event name')
    if len(name) > app.max_event_name_length:
        raise LimitError(
            f"event name is {len(name)} characters; the limit is {app.max_event_name_length}",
            hint="use a shorter event name",
            http_status=400,
        )
    data = event.get("data")
    if not isinstance(data, str):
        raise TidingsError(
            '"data" must be a string', hint="JSON-encode the payload into a string first"
        )
    size = len(data.encode())
    if size > app.max_payload_bytes:
        raise LimitError(
            f"event data is {size} bytes; the limit is {app.max_payload_bytes}",
            hint="send less data per event, or raise max_payload_bytes for the app",
        )
    if single_channel:
        if not isinstance(event.get("channel"), str):
            raise TidingsError(
                'each batch event needs a "channel" string',
                hint='e.g. {"channel": "my-channel", "name": "my-event", "data": "{}"}',
            )
        channels: object = [event["channel"]]
    else:
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
    names = [_valid_channel(c) for c in channels]
    socket_id = event.get("socket_id")
    if socket_id is not None and not isinstance(socket_id, str):
        raise TidingsError('"socket_id" must be a string', hint='e.g. "socket_id": "123.456"')
    encoded = orjson.dumps(data).decode()
    sid = SocketId(socket_id) if socket_id else None
    return [Publication(app.id, c, name, encoded, socket_id=sid) for c in names]


def batch_publications(
    app: App, payload: dict[str, Any]
) -> list[tuple[Publication, frozenset[str]]]:
    """Validate a ``batch_events`` body: each event's publication and its ``info``.

    Raises:
        TidingsError / LimitError: naming the event at fault (``batch[3]: ...``).
    """
    batch = payload.get("batch")
    if not isinstance(batch, list) or not batch:
        raise TidingsError(
            '"batch" must be a non-empty list of events',
            hint='send {"batch": [{"channel": ..., "name": ..., "data": ...}, ...]}',
        )
    if len(batch) > app.max_batch_size:
        raise LimitError(
            f"{len(batch)} events in one batch; the limit is {app.max_batch_size}",
            hint="split the batch into several requests",
            http_status=400,
        )
    checked: list[tuple[Publication, frozenset[str]]] = []
    for index, event in enumerate(batch):
        if not isinstance(event, dict):
            raise TidingsError(f"batch[{index}] is not an object", hint="each event is an object")
        try:
            (pub,) = event_publications(app, event, single_channel=True)
            checked.append((pub, info_attributes(event.get("info"))))
        except TidingsError as exc:
            exc.message = f"batch[{index}]: {exc.message}"
            raise
    return checked


# -- counts ---------------------------------------------------------------------------


async def channel_attributes(
    request: web.Request, app_id: AppId, channels: Iterable[ChannelName], wanted: Iterable[str]
) -> dict[ChannelName, dict[str, int]]:
    """The requested counts of each channel; ``user_count`` only on presence channels.

    One cluster round trip per kind of count, not one per channel.
    """
    node = request.app[STATE].node
    return await node.channel_stats(app_id, list(dict.fromkeys(channels)), frozenset(wanted))


def _presence_only(channel: ChannelName, what: str) -> None:
    if channel_kind(channel) is not ChannelKind.PRESENCE:
        raise TidingsError(
            f"{what} is only available for presence channels, and {channel!r} is not one",
            hint="ask about a channel whose name starts with presence-",
        )


# -- handlers -------------------------------------------------------------------------


@routes.post("/apps/{app_id}/events")
async def trigger_event(request: web.Request) -> web.Response:
    """Publish one event to 1-100 channels; ``info`` returns per-channel counts."""
    body = await request.read()
    app = await signed_app(request, body)
    event = parse_json_object(body)
    pubs = event_publications(app, event)
    wanted = info_attributes(event.get("info", request.query.get("info")))
    request.app[RATE_LIMITS].charge_events(app, len(pubs))  # one event per channel
    node = request.app[STATE].node
    for pub in pubs:
        await node.publish(pub)
    if not wanted:
        return web.json_response({})
    channels = await channel_attributes(request, app.id, (p.channel for p in pubs), wanted)
    return web.json_response({"channels": channels})


@routes.post("/apps/{app_id}/batch_events")
async def trigger_batch(request: web.Request) -> web.Response:
    """Publish up to ``max_batch_size`` events, each with its own channel, socket_id and info."""
    body = await request.read()
    app = await signed_app(request, body)
    checked = batch_publications(app, parse_json_object(body))
    # Everything is validated before anything is published: a batch is all or nothing.
    request.app[RATE_LIMITS].charge_events(app, len(checked))
    node = request.app[STATE].node
    for pub, _ in checked:
        await node.publish(pub)
    if not any(wanted for _, wanted in checked):
        return web.json_response({})
    every = frozenset().union(*(wanted for _, wanted in checked))
    stats = await channel_attributes(request, app.id, (p.channel for p, _ in checked), every)
    replies = [
        {name: n for name, n in stats[pub.channel].items() if name in wanted}
        for pub, wanted in checked
    ]
    return web.json_response({"batch": replies})


@routes.get("/apps/{app_id}/channels")
async def list_channels(request: web.Request) -> web.Response:
    """Occupied channels, optionally by prefix, with ``user_count``/``subscription_count``."""
    app = await signed_app(request, b"", read=True)
    prefix = request.query.get("filter_by_prefix", "")
    wanted = info_attributes(request.query.get("info"))
    if "user_count" in wanted and not prefix.startswith("presence-"):
        raise TidingsError(
            "info=user_count is only available for presence channels",
            hint="add filter_by_prefix=presence- to the query",
        )
    occupied = await request.app[STATE].node.channels(app.id)
    names = [name for name in sorted(occupied) if name.startswith(prefix)]
    channels = await channel_attributes(request, app.id, names, wanted) if wanted else {}
    return web.json_response({"channels": {name: channels.get(name, {}) for name in names}})


@routes.get("/apps/{app_id}/channels/{channel}")
async def channel_info(request: web.Request) -> web.Response:
    """One channel: ``occupied``, plus ``user_count`` (presence) and ``subscription_count``."""
    app = await signed_app(request, b"", read=True)
    channel = _valid_channel(request.match_info["channel"])
    wanted = info_attributes(request.query.get("info"))
    if "user_count" in wanted:
        _presence_only(channel, "info=user_count")
    node = request.app[STATE].node
    occupied = await node.subscription_count(app.id, channel) > 0
    if not occupied and channel_kind(channel) is ChannelKind.PRESENCE:
        occupied = await node.user_count(app.id, channel) > 0  # members on other nodes
    reply: dict[str, Any] = {"occupied": occupied}
    if wanted:
        reply.update((await channel_attributes(request, app.id, [channel], wanted))[channel])
    return web.json_response(reply)


@routes.get("/apps/{app_id}/channels/{channel}/users")
async def channel_users(request: web.Request) -> web.Response:
    """The user ids on a presence channel."""
    app = await signed_app(request, b"", read=True)
    channel = _valid_channel(request.match_info["channel"])
    _presence_only(channel, "the users list")
    members = await request.app[STATE].node.members(app.id, channel)
    return web.json_response({"users": [{"id": uid} for uid in members]})


@routes.get("/apps/{app_id}/connections")
async def connection_count(request: web.Request) -> web.Response:
    """``{"connections": N}``: the app's open connections on every node (Reverb's endpoint,
    which Laravel Pulse's Reverb recorder polls). Other nodes count as of their last heartbeat."""
    app = await signed_app(request, b"", read=True)
    count = request.app[STATE].node.cluster_connection_count(app.id)
    return web.json_response({"connections": count})


@routes.post("/apps/{app_id}/users/{user_id}/terminate_connections")
async def terminate_connections(request: web.Request) -> web.Response:
    """Close every connection signed in (``pusher:signin``) as the user, with 4009."""
    body = await request.read()
    app = await signed_app(request, body)
    await request.app[STATE].node.terminate_user_connections(
        app.id, UserId(request.match_info["user_id"])
    )
    return web.json_response({})


@routes.post("/users/{user_id}/terminate_connections")
async def terminate_connections_keyed(request: web.Request) -> web.Response:
    """The same, without the app in the path: the PyPI ``pusher`` 3.x library calls this.

    The app is the one whose key is ``auth_key``.
    """
    body = await request.read()
    app = await keyed_app(request, body)
    await request.app[STATE].node.terminate_user_connections(
        app.id, UserId(request.match_info["user_id"])
    )
    return web.json_response({})
