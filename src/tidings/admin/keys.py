"""The admin application's keys: where its handlers find the server's state."""

from __future__ import annotations

from aiohttp import web

from tidings.web.state import ServerState

__all__ = ["STATE"]

#: The server's shared state, in the admin ``web.Application``.
STATE: web.AppKey[ServerState] = web.AppKey("tidings_state", ServerState)
