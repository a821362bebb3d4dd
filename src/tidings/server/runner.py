"""Run a tidings server as a process: signals, worker processes, the banner.

The server itself is put together by ``tidings.bootstrap`` (``start_server``,
re-exported here for the tests and ``tidings.Server``); this module only runs
it until SIGTERM or SIGINT and drains it.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import structlog

from tidings.bootstrap import RunningServer, start_server
from tidings.config import Settings
from tidings.server import collector, watchdog

__all__ = ["RunningServer", "serve", "serve_one", "start_server"]

log = structlog.get_logger(__name__)


async def _serve_until_signalled(settings: Settings, banner: bool) -> None:
    from tidings.banner import render_banner

    # Handlers first: a SIGTERM while the server starts (a worker group stopped
    # right after its launch) must drain it, not kill it with the default action.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = await start_server(settings)
    if banner:
        print(
            render_banner(
                settings,
                ws_url=running.ws_url,
                http_url=running.http_url,
                admin_url=running.admin_url,
                broker_healthy=running.state.node.broker.healthy,
            ),
            flush=True,
        )
    log.info("tidings serving", url=running.http_url, node_id=running.state.node.node_id)
    collector.freeze_start_up()
    await stop.wait()
    log.info("shutting down", grace_period=settings.shutdown_grace_period)
    # Whatever hangs from here on (the drain, the loop's clean-up, the interpreter's
    # exit), the process ends: see tidings.server.watchdog.
    watchdog.arm(loop, settings.shutdown_grace_period + watchdog.SLACK_S)
    await running.shutdown()
    log.info("stopped")


def serve(settings: Settings) -> int:
    """Run a server until SIGTERM or SIGINT, then drain and return the exit code.

    With ``settings.workers > 1`` it runs that many worker processes on the
    same port instead (see :mod:`tidings.server.workers`).

    Raises:
        ConfigError: worker settings that cannot work (e.g. a memory broker).
    """
    if settings.workers > 1:
        from tidings.server.workers import run_workers

        return run_workers(settings, serve_one)
    serve_one(settings, True)
    return 0


def serve_one(settings: Settings, banner: bool = True) -> None:
    """Run one server process until SIGTERM or SIGINT, then drain and return."""
    # Full collections that scan only what is new since the last one (see
    # tidings.server.collector and docs/reliability.md for the measurements).
    collector.apply_policy()
    loop_factory = None  # the stock asyncio loop
    if settings.uvloop:
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_until_signalled(settings, banner))
    sys.stdout.flush()
