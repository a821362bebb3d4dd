"""The composition root: the only place where configuration becomes implementations.

``engine`` turns settings into the engine's parts (node, app catalogue,
webhooks, the main port's routes); ``server`` puts them together into a running
server with its listeners and tasks.
"""

from __future__ import annotations

from tidings.bootstrap.engine import (
    WIRES,
    build_app_catalog,
    build_node,
    build_router,
    build_webhooks,
    max_request_body,
    open_app_database,
)
from tidings.bootstrap.server import RunningServer, start_server

__all__ = [
    "WIRES",
    "RunningServer",
    "build_app_catalog",
    "build_node",
    "build_router",
    "build_webhooks",
    "max_request_body",
    "open_app_database",
    "start_server",
]
