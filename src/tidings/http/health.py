"""Health endpoints, the index, and the hint shown to lost pusher-js clients."""

from __future__ import annotations

from typing import Final

from tidings.http.recovery_script import PATH as RECOVERY_PATH
from tidings.http.recovery_script import recovery_script
from tidings.http.router import ANY, Api, Route
from tidings.protocol.http_request import Request
from tidings.version import __version__
from tidings.web.reply import Reply, json_reply

__all__ = ["routes"]

_DRAINING: Final = json_reply({"status": "draining"}, 503)
_BROKER_DOWN: Final = json_reply({"status": "broker unreachable"}, 503)
_READY: Final = json_reply({"status": "ready"})
_UP: Final = Reply(200, b"OK", content_type="text/plain; charset=utf-8")
_INDEX: Final = json_reply(
    {
        "name": "tidings",
        "version": __version__,
        "websocket": "/app/{key}?protocol=7",
        "http_api": "/apps/{app_id}/events",
        "health": ["/health", "/ready", "/up"],
    }
)
_status, _content_type, _script = recovery_script()
_RECOVERY_JS: Final = Reply(
    _status,
    _script,
    content_type=_content_type,
    # Imported by pages of any origin; it changes only with the server's version.
    headers=(("Access-Control-Allow-Origin", "*"), ("Cache-Control", "public, max-age=300")),
)
_TRANSPORTS: Final = Reply(
    404,
    b'{"error":"tidings serves WebSocket transports only",'
    b"\"hint\":\"set enabledTransports: ['ws', 'wss'] in the pusher-js options\"}",
    error="tidings serves WebSocket transports only",
)


async def health(request: Request, api: Api) -> Reply:
    """Alive: the process answers. Always 200 while serving.

    Also names this node, the live peers seen through heartbeats (just this
    node without Redis, or while Redis is unreachable) and the broker state.
    """
    state = api.state
    node = state.node
    healthy = node.broker.healthy
    body: dict[str, object] = {
        "status": "ok",
        "node_id": node.node_id,
        # A liveness probe must not wait on an unreachable Redis for the peers.
        "peers": await node.peers() if healthy else [node.node_id],
        "connections": len(state.connections),
        "broker": "up" if healthy else "down",
        "broker_kind": "memory" if node.cluster is None else "redis",
        "draining": state.draining,
    }
    down = _shards_down(node.broker)
    if down:
        body["shards_down"] = down
    return json_reply(body)


async def ready(request: Request, api: Api) -> Reply:
    """Ready for traffic: 503 while draining or while the broker is unreachable.

    With several Redis shards, a node is unready only while none answers: a
    shard that is down affects its own channels only (their publishes are held,
    then refused naming the shard), so taking every node out of the load
    balancer would stop the channels of the healthy shards too. The answer
    then says ``"degraded"`` and names the shards that are down.
    """
    if api.state.draining:
        return _DRAINING
    broker = api.state.node.broker
    if broker.healthy:
        return _READY
    down = _shards_down(broker)
    if not down:
        return _BROKER_DOWN
    if len(down) < getattr(getattr(broker, "shards", None), "count", 1):
        return json_reply({"status": "degraded", "shards_down": down})
    return json_reply({"status": "broker unreachable", "shards_down": down}, 503)


def _shards_down(broker: object) -> list[dict[str, str]]:
    """The Redis shards that do not answer (label and reason), when there are several."""
    shards_down = getattr(broker, "shards_down", None)
    if shards_down is None:
        return []
    down: dict[str, str] = shards_down()
    return [{"shard": label, "reason": reason} for label, reason in down.items() if label]


async def up(request: Request, api: Api) -> Reply:
    """Plain ``OK`` for load balancers that want a body, like Soketi's ``/``."""
    return _UP


async def index(request: Request, api: Api) -> Reply:
    """What this server is and where its endpoints are."""
    return _INDEX


async def recovery_js(request: Request, api: Api) -> Reply:
    """The recovery helper for stock pusher-js (``tidings.http.recovery_script``)."""
    return _RECOVERY_JS


async def pusher_fallback_hint(request: Request, api: Api) -> Reply:
    """pusher-js falls back to HTTP streaming/polling here; tidings serves WebSockets only."""
    return _TRANSPORTS


def routes() -> list[Route]:
    """Health, the index and the ``/pusher/*`` hint (every method)."""
    get = frozenset(("GET",))
    return [
        Route(get, "/health", health),
        Route(get, "/ready", ready),
        Route(get, "/up", up),
        Route(get, "/", index),
        Route(get, RECOVERY_PATH, recovery_js),
        Route(ANY, "/pusher/{tail:.*}", pusher_fallback_hint),
    ]
