"""What every connection of one listener shares: the router, the bounds, the open doors.

A ``Reception`` is the protocol factory a listener (``loop.create_server``) is
given: each TCP connection gets a new :class:`~tidings.web.front.FrontDoor`
that reads its settings here, once per listener rather than once per
connection. ``close`` closes the connections still at the front door (idle
keep-alive ones included); upgraded ones are the WebSocket shell's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from tidings.protocol.http_request import Request
from tidings.web.front import FrontDoor
from tidings.web.reply import Reply
from tidings.web.state import ServerState
from tidings.web.upgrade import Upgrade

__all__ = ["Reception", "Serve"]


#: Answers one request: a reply, or the upgrade to perform. Never raises
#: ``TidingsError`` (it renders those); anything else it raises is a bug.
Serve = Callable[[Request], Coroutine[Any, Any, Reply | Upgrade]]


class Reception:
    """What every connection of one listener shares, and its protocol factory.

    Args:
        serve: the router and handlers (``tidings.http.service.MainPort``).
        max_body: the largest request body (413 over it).
        tls: the listener decrypts TLS (a ClientHello is then never seen here).
    """

    def __init__(
        self, state: ServerState, serve: Serve, *, max_body: int, tls: bool = False
    ) -> None:
        self.state = state
        self.serve = serve
        self.max_body = max_body
        self.tls = tls
        self.head_timeout = state.settings.handshake_timeout
        self.body_timeout = state.settings.request_body_timeout
        # Kept: asyncio.get_running_loop() costs a getpid() system call on 3.11.
        self.loop = asyncio.get_running_loop()
        #: Connections at the front door (not upgraded): their count is bounded by
        #: the open connections, and a closed one leaves at once.
        self.doors: set[FrontDoor] = set()

    def __call__(self) -> FrontDoor:
        """The protocol factory for ``loop.create_server``."""
        return FrontDoor(self)

    def close(self) -> None:
        """Close every connection still at the front door (idle keep-alive ones included)."""
        for door in list(self.doors):
            door.close()
