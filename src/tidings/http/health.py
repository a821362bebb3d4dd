"""Health endpoints and the hints shown to lost clients."""

from __future__ import annotations

from aiohttp import web

from tidings.version import __version__
from tidings.web.state import STATE

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Alive: the process answers. Always 200 while serving.

    Also names this node, the live peers seen through heartbeats (just this
    node without Redis, or while Redis is unreachable) and the broker state.
    """
    state = request.app[STATE]
    node = state.node
    healthy = node.broker.healthy
    return web.json_response(
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


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """Ready for traffic: 503 while draining or while the broker is unreachable."""
    state = request.app[STATE]
    if state.draining:
        return web.json_response({"status": "draining"}, status=503)
    if not state.node.broker.healthy:
        return web.json_response({"status": "broker unreachable"}, status=503)
    return web.json_response({"status": "ready"})


@routes.get("/up")
async def up(request: web.Request) -> web.Response:
    """Plain ``OK`` for load balancers that want a body, like Soketi's ``/``."""
    return web.Response(text="OK")


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """What this server is and where its endpoints are."""
    return web.json_response(
        {
            "name": "tidings",
            "version": __version__,
            "websocket": "/app/{key}?protocol=7",
            "http_api": "/apps/{app_id}/events",
            "health": ["/health", "/ready", "/up"],
        }
    )


@routes.route("*", "/pusher/{tail:.*}")
async def pusher_fallback_hint(request: web.Request) -> web.Response:
    """pusher-js falls back to HTTP streaming/polling here; tidings serves WebSockets only."""
    return web.json_response(
        {
            "error": "tidings serves WebSocket transports only",
            "hint": "set enabledTransports: ['ws', 'wss'] in the pusher-js options",
        },
        status=404,
    )
