"""Probes of a running Pusher-compatible server from the outside: ``tidings doctor`` and
``tidings conformance``.

They speak only the public wire (HTTP API, Pusher protocol WebSocket, health endpoints),
so they work against any Pusher-compatible server, not just tidings.
"""

from __future__ import annotations
