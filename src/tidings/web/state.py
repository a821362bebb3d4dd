"""What the main port's shell and handlers share: node, settings, flusher, connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.core.node import Node
from tidings.web.stats import HttpStats
from tidings.web.writer import Flusher

if TYPE_CHECKING:
    from tidings.config import Settings
    from tidings.web.connection import ClientConnection

__all__ = ["ServerState"]


@dataclass(eq=False)
class ServerState:
    """Shared by every connection and handler of one server (and the admin listener).

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
