"""Health endpoints, the index, and the hint shown to lost pusher-js clients."""

from __future__ import annotations

from typing import Final

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
    return json_reply(
        {
            "status": "ok",
            "node_id": node.node_id,
            # A liveness probe must not wait on an unreachable Redis for the peers.
            "peers": await node.peers() if healthy else [node.node_id],
            "connections": len(state.connections),
            "broker": "up" if healthy else "down",
            "broker_kind": "memory" if node.cluster is None else "redis",
            "draining": state.draining,
        }
    )


async def ready(request: Request, api: Api) -> Reply:
    """Ready for traffic: 503 while draining or while the broker is unreachable."""
    if api.state.draining:
        return _DRAINING
    if not api.state.node.broker.healthy:
        return _BROKER_DOWN
    return _READY


async def up(request: Request, api: Api) -> Reply:
    """Plain ``OK`` for load balancers that want a body, like Soketi's ``/``."""
    return _UP


async def index(request: Request, api: Api) -> Reply:
    """What this server is and where its endpoints are."""
    return _INDEX


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
        Route(ANY, "/pusher/{tail:.*}", pusher_fallback_hint),
    ]
