"""The main port's one way in: route, check, handle, render the errors, count.

``MainPort`` is the ``Serve`` callable of the shell (``tidings.web.front``): the
shell reads a request and awaits ``main_port(request)``; it gets back a
``Reply`` to write or an ``Upgrade`` to perform. Everything between is here,
in one path for every route:

1. the router finds the route (404 / 405 as ``HttpError``);
2. a WebSocket route checks the opening handshake (``tidings.web.upgrade``);
3. a handler runs; a ``TidingsError`` it raises becomes its JSON answer
   (``tidings.web.reply.error_reply``: the one error renderer);
4. the answer is counted (``tidings.http.observe``), except upgrades, which
   are counted as connections.

Nothing here touches a socket: the unit tests await it with a ``Request``.
"""

from __future__ import annotations

import time

from tidings.errors import TidingsError
from tidings.http.observe import record_answer
from tidings.http.router import Api, Router
from tidings.protocol.http_request import HttpError, Request
from tidings.typing import AppId
from tidings.web.reply import Reply, error_reply
from tidings.web.upgrade import Upgrade, websocket_upgrade

__all__ = ["UNMATCHED", "MainPort"]

#: The metrics' endpoint of requests no route took (404, 405).
UNMATCHED = "unmatched"


class MainPort:
    """Answers every request of the main port.

    Args:
        api: what the handlers are given.
        router: the route table (``tidings.bootstrap.build_router``).
    """

    __slots__ = ("api", "router")

    def __init__(self, api: Api, router: Router) -> None:
        self.api = api
        self.router = router

    async def __call__(self, request: Request) -> Reply | Upgrade:
        """The answer to ``request``: never raises ``TidingsError`` (it renders it)."""
        started = time.perf_counter()
        state = self.api.state
        try:
            route = self.router.resolve(request)
        except HttpError as exc:
            reply = error_reply(exc)
            record_answer(state, AppId(""), request.method, UNMATCHED, reply, started)
            return reply
        if route.wire is not None:
            try:
                return websocket_upgrade(request, route.wire, time.time())
            except HttpError as exc:
                reply = error_reply(exc)
            if request.headers.get("upgrade", "").lower() != "websocket":
                # A plain request to a WebSocket endpoint is an HTTP request like any
                # other; a malformed upgrade is a refused connection, not an API call.
                record_answer(state, AppId(""), request.method, route.template, reply, started)
            return reply
        assert route.handler is not None
        try:
            reply = await route.handler(request, self.api)
        except TidingsError as exc:
            reply = error_reply(exc)
        app_id = AppId(request.params.get("app_id", ""))
        record_answer(state, app_id, request.method, route.template, reply, started)
        return reply
