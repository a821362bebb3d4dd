"""Apply app changes to open connections: the app store's listener on a running node.

A disabled or deleted app's connections are closed with 4003 (new ones are then
refused by ``admit_app``: 4003 disabled, 4001 unknown key). A changed app is
handed to its open connections, so a rotated secret stops verifying their
channel auth at once and changed limits apply to their next subscribe or client
event. Quotas counted per connection at connect time (the client-event rate
bucket) keep their old value until the client reconnects.
"""

from __future__ import annotations

import structlog

from tidings.apps.catalog import AppChanges
from tidings.core.node import Node
from tidings.web.connection import ClientConnection

__all__ = ["GONE_CODE", "apply_app_changes"]

log = structlog.get_logger(__name__)

#: Pusher's "application disabled" code (4000-4099: the client must not reconnect).
GONE_CODE = 4003


def apply_app_changes(node: Node, changes: AppChanges) -> None:
    """Close the connections of apps that went; hand changed apps to the others."""
    for app_id in changes.gone:
        conns = node.connections(app_id)
        for conn in conns:
            conn.close(GONE_CODE, f"App {app_id} was disabled or deleted")
        log.info("app disabled or deleted", app_id=app_id, closed=len(conns))
    for app in changes.changed:
        for conn in node.connections(app.id):
            if isinstance(conn, ClientConnection):
                conn.use_app(app)
        log.info("app changed", app_id=app.id)
