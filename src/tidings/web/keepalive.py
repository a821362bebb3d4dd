"""One sweeper task for every connection's keepalive (not a timer per connection)."""

from __future__ import annotations

import asyncio

import structlog

from tidings.web.state import ServerState

__all__ = ["run_keepalive"]

log = structlog.get_logger(__name__)


async def run_keepalive(state: ServerState) -> None:
    """Every few seconds, ping silent clients and close those that stopped answering.

    A client silent for ``activity_timeout`` seconds gets a ping; one that
    stays silent ``activity_timeout`` more seconds is closed (Pusher 4201).
    Runs until cancelled.
    """
    timeout = float(state.settings.activity_timeout)
    interval = max(0.2, min(5.0, timeout / 4))
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        for conn in list(state.connections):
            try:
                conn.keepalive(now, timeout)
                # A safety net: frames held for a socket that was behind go out
                # even if no drain notice came (resume() does nothing otherwise).
                conn.outbox.resume()
            except Exception:  # one broken connection must not stop the sweep
                log.exception("keepalive failed", socket_id=conn.socket_id)
