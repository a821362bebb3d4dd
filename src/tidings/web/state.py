"""What the shell's handlers share: the node, settings, the flusher and the live connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from tidings.core.node import Node
from tidings.web.stats import HttpStats
from tidings.web.writer import Flusher

if TYPE_CHECKING:
    from tidings.config import Settings
    from tidings.web.connection import ClientConnection

__all__ = ["STATE", "ServerState"]


@dataclass(eq=False)
class ServerState:
    """Shared by every handler of one server; lives in the aiohttp app as ``STATE``.

    Attributes:
        draining: set on shutdown: ``/ready`` answers 503 and new WebSockets are refused.
        connections: every open client connection, of every wire protocol.
        http: HTTP API request totals and latencies (the WebSocket traffic is
            ``flusher.traffic``).
    """

    node: Node
    settings: Settings
    flusher: Flusher
    draining: bool = False
    connections: set[ClientConnection] = field(default_factory=set)
    http: HttpStats = field(default_factory=HttpStats)


STATE: web.AppKey[ServerState] = web.AppKey("tidings_state", ServerState)
