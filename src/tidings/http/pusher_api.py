"""The Pusher Channels HTTP API on the main port.

Every handler looks the app up and verifies the request signature
(``tidings.http.guard``, which also applies the per-app rate limits), validates
limits and answers JSON exactly as Pusher documents it. Every rejection is a
``TidingsError``, rendered as ``{"error", "hint"}`` with its status by the one
error renderer (``tidings.web.reply``), never a 500. The routes are also served
under ``settings.path_prefix``, for proxies that forward the prefixed path
unchanged (see docs/http-api.md).

A publish is the request a backend sends most, often for one subscriber
(``private-user-123``): its handler awaits nothing but the node, so on the
in-memory broker the shell answers it inside the ``data_received`` that read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson

from tidings.apps.base import App
from tidings.domain.channels import ChannelKind, channel_kind, is_cache_channel, name_problem
from tidings.domain.messages import Publication
from tidings.errors import LimitError, TidingsError
from tidings.http.guard import keyed_app, signed_app
from tidings.http.history_api import channel_history
from tidings.http.router import Api, Route
from tidings.protocol.http_request import Request
from tidings.typing import AppId, ChannelName, SocketId, UserId
from tidings.web.reply import EMPTY_REPLY, Reply, json_reply

__all__ = [
    "batch_publications",
    "event_publications",
    "info_attributes",
    "parse_json_object",
    "routes",
]

INFO_ATTRIBUTES: Final = ("user_count", "subscription_count")


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
            problem,
            hint="channel names are 1-200 characters of a-z A-Z 0-9 _ - = @ , . ;",
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
            '"data" must be a string',
            hint="JSON-encode the payload into a string first",
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
    channels = _bounded_list(
        channels,
        '"channels" must be a non-empty list',
        'e.g. "channels": ["my-channel"]',
        app.max_channels_per_event,
        ("channels in one event", "the publish"),
    )
    names = [_valid_channel(c) for c in channels]
    socket_id = event.get("socket_id")
    if socket_id is not None and not isinstance(socket_id, str):
        raise TidingsError('"socket_id" must be a string', hint='e.g. "socket_id": "123.456"')
    encoded = orjson.dumps(data).decode()
    sid = SocketId(socket_id) if socket_id else None
    return [Publication(app.id, c, name, encoded, socket_id=sid) for c in names]


def _bounded_list(
    value: object, error: str, hint: str, limit: int, what: tuple[str, str]
) -> list[Any]:
    """``value`` if it is a non-empty list of at most ``limit`` items.

    Raises:
        TidingsError: not a list, or empty (``error``, ``hint``).
        LimitError: 400, over ``limit``; ``what`` names the items and what to split.
    """
    if not isinstance(value, list) or not value:
        raise TidingsError(error, hint=hint)
    if len(value) > limit:
        items, whole = what
        raise LimitError(
            f"{len(value)} {items}; the limit is {limit}",
            hint=f"split {whole} into several requests",
            http_status=400,
        )
    return value


def batch_publications(
    app: App, payload: dict[str, Any]
) -> list[tuple[Publication, frozenset[str]]]:
    """Validate a ``batch_events`` body: each event's publication and its ``info``.

    Raises:
        TidingsError / LimitError: naming the event at fault (``batch[3]: ...``).
    """
    batch = _bounded_list(
        payload.get("batch"),
        '"batch" must be a non-empty list of events',
        'send {"batch": [{"channel": ..., "name": ..., "data": ...}, ...]}',
        app.max_batch_size,
        ("events in one batch", "the batch"),
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
    api: Api, app_id: AppId, channels: Iterable[ChannelName], wanted: Iterable[str]
) -> dict[ChannelName, dict[str, int]]:
    """The requested counts of each channel; ``user_count`` only on presence channels.

    One cluster round trip per kind of count, not one per channel.
    """
    node = api.state.node
    return await node.channel_stats(app_id, list(dict.fromkeys(channels)), frozenset(wanted))


def _presence_only(channel: ChannelName, what: str) -> None:
    if channel_kind(channel) is not ChannelKind.PRESENCE:
        raise TidingsError(
            f"{what} is only available for presence channels, and {channel!r} is not one",
            hint="ask about a channel whose name starts with presence-",
        )


# -- handlers -------------------------------------------------------------------------


async def trigger_event(request: Request, api: Api) -> Reply:
    """Publish one event to 1-100 channels; ``info`` returns per-channel counts."""
    app = await signed_app(request, api)
    event = parse_json_object(request.body)
    pubs = event_publications(app, event)
    wanted = info_attributes(event["info"] if "info" in event else request.query_value("info"))
    api.limits.charge_events(app, len(pubs))  # one event per channel
    node = api.state.node
    for pub in pubs:
        await node.publish(pub)
    if not wanted:
        return EMPTY_REPLY
    channels = await channel_attributes(api, app.id, (p.channel for p in pubs), wanted)
    return json_reply({"channels": channels})


async def trigger_batch(request: Request, api: Api) -> Reply:
    """Publish up to ``max_batch_size`` events, each with its own channel, socket_id and info."""
    app = await signed_app(request, api)
    checked = batch_publications(app, parse_json_object(request.body))
    # Everything is validated before anything is published: a batch is all or nothing.
    api.limits.charge_events(app, len(checked))
    node = api.state.node
    for pub, _ in checked:
        await node.publish(pub)
    if not any(wanted for _, wanted in checked):
        return EMPTY_REPLY
    every = frozenset().union(*(wanted for _, wanted in checked))
    stats = await channel_attributes(api, app.id, (p.channel for p, _ in checked), every)
    replies = [
        {name: n for name, n in stats[pub.channel].items() if name in wanted}
        for pub, wanted in checked
    ]
    return json_reply({"batch": replies})


async def list_channels(request: Request, api: Api) -> Reply:
    """Occupied channels, optionally by prefix, with ``user_count``/``subscription_count``."""
    app = await signed_app(request, api, read=True)
    prefix = request.query_value("filter_by_prefix") or ""
    wanted = info_attributes(request.query_value("info"))
    if "user_count" in wanted and not prefix.startswith("presence-"):
        raise TidingsError(
            "info=user_count is only available for presence channels",
            hint="add filter_by_prefix=presence- to the query",
        )
    occupied = await api.state.node.channels(app.id)
    names = [name for name in sorted(occupied) if name.startswith(prefix)]
    channels = await channel_attributes(api, app.id, names, wanted) if wanted else {}
    return json_reply({"channels": {name: channels.get(name, {}) for name in names}})


async def channel_info(request: Request, api: Api) -> Reply:
    """One channel: ``occupied``, plus ``user_count`` (presence) and ``subscription_count``."""
    app = await signed_app(request, api, read=True)
    channel = _valid_channel(request.params["channel"])
    info = request.query_value("info") or ""
    parts = [part.strip() for part in info.split(",")]
    want_cache = "cache" in parts
    wanted = info_attributes(",".join(part for part in parts if part != "cache"))
    if "user_count" in wanted:
        _presence_only(channel, "info=user_count")
    if want_cache and not is_cache_channel(channel):
        raise TidingsError(
            f"info=cache is only available for cache channels, and {channel!r} is not one",
            hint="ask about a channel whose name starts with cache-, private-cache- "
            "or presence-cache-",
        )
    node = api.state.node
    occupied = await node.subscription_count(app.id, channel) > 0
    if not occupied and channel_kind(channel) is ChannelKind.PRESENCE:
        occupied = await node.user_count(app.id, channel) > 0  # members on other nodes
    reply: dict[str, Any] = {"occupied": occupied}
    if wanted:
        reply.update((await channel_attributes(api, app.id, [channel], wanted))[channel])
    if want_cache:
        # Pusher's shape: the last event's data as published, and its remaining TTL.
        entry = await node.broker.cached(app.id, channel)
        if entry is not None:
            pub, ttl = entry
            reply["cache"] = {"data": orjson.loads(pub.data), "ttl": round(ttl)}
    return json_reply(reply)


async def channel_users(request: Request, api: Api) -> Reply:
    """The user ids on a presence channel."""
    app = await signed_app(request, api, read=True)
    channel = _valid_channel(request.params["channel"])
    _presence_only(channel, "the users list")
    members = await api.state.node.members(app.id, channel)
    return json_reply({"users": [{"id": uid} for uid in members]})


async def channel_history_route(request: Request, api: Api) -> Reply:
    """A history channel's kept events (``tidings.http.history_api``)."""
    app = await signed_app(request, api, read=True)
    query = {name: value for name, value in reversed(request.query)}  # the first value wins
    broker = api.state.node.broker
    status, body = await channel_history(broker, app, request.params["channel"], query)
    return json_reply(body, status)


async def connection_count(request: Request, api: Api) -> Reply:
    """``{"connections": N}``: the app's open connections on every node (Reverb's endpoint,
    which Laravel Pulse's Reverb recorder polls). Other nodes count as of their last heartbeat."""
    app = await signed_app(request, api, read=True)
    return json_reply({"connections": api.state.node.cluster_connection_count(app.id)})


async def terminate_connections(request: Request, api: Api) -> Reply:
    """Close every connection signed in (``pusher:signin``) as the user, with 4009."""
    app = await signed_app(request, api)
    await api.state.node.terminate_user_connections(app.id, UserId(request.params["user_id"]))
    return EMPTY_REPLY


async def terminate_connections_keyed(request: Request, api: Api) -> Reply:
    """The same, without the app in the path: the PyPI ``pusher`` 3.x library calls this.

    The app is the one whose key is ``auth_key``.
    """
    app = await keyed_app(request, api)
    await api.state.node.terminate_user_connections(app.id, UserId(request.params["user_id"]))
    return EMPTY_REPLY


_POST: Final = frozenset(("POST",))
_GET: Final = frozenset(("GET",))


def routes(prefix: str = "") -> list[Route]:
    """The Pusher HTTP API, under ``prefix`` (``""``: at the root); publishes first."""
    return [
        Route(_POST, prefix + "/apps/{app_id}/events", trigger_event),
        Route(_POST, prefix + "/apps/{app_id}/batch_events", trigger_batch),
        Route(_GET, prefix + "/apps/{app_id}/channels", list_channels),
        Route(_GET, prefix + "/apps/{app_id}/channels/{channel}", channel_info),
        Route(_GET, prefix + "/apps/{app_id}/channels/{channel}/users", channel_users),
        Route(_GET, prefix + "/apps/{app_id}/channels/{channel}/history", channel_history_route),
        Route(_GET, prefix + "/apps/{app_id}/connections", connection_count),
        Route(
            _POST,
            prefix + "/apps/{app_id}/users/{user_id}/terminate_connections",
            terminate_connections,
        ),
        Route(
            _POST,
            prefix + "/users/{user_id}/terminate_connections",
            terminate_connections_keyed,
        ),
    ]
