"""The whole server from settings: the services, the listeners and their tasks.

``start_server`` is the one place a running server is put together, in order:
the app catalogue (its database, blocking, once), the node and what listens to
its bus (counters, the debug log), the webhook service, the main port (its
route table behind the ``asyncio.Protocol`` shell of ``tidings.web.front``), the
background tasks (keepalive, summaries, app changes) and the admin listener
(aiohttp: it never shares a socket with the main port). ``RunningServer``
takes it apart again in the reverse order. Process concerns (signals, worker
processes, the banner) are ``tidings.server.runner``'s.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import structlog
from aiohttp import web

from tidings import tasks
from tidings.admin.app import build_admin_app
from tidings.admin.counters import EventCounters
from tidings.apps.catalog import AppCatalog, AppChanges
from tidings.bootstrap.engine import (
    build_app_catalog,
    build_node,
    build_router,
    build_webhooks,
    max_request_body,
)
from tidings.config import Settings
from tidings.core.bus import EventBus
from tidings.eventlog import attach_debug_log, run_summaries
from tidings.http.router import Api, Router
from tidings.http.service import MainPort
from tidings.security import check_admin_exposure
from tidings.web.app_sync import apply_app_changes
from tidings.web.keepalive import run_keepalive
from tidings.web.reception import Reception
from tidings.web.state import ServerState
from tidings.web.writer import Flusher
from tidings.webhooks.service import WebhookService

__all__ = ["RunningServer", "start_server"]

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class RunningServer:
    """A started server: its state, bound port and the handles needed to stop it."""

    state: ServerState
    server: asyncio.Server
    reception: Reception
    router: Router
    port: int
    keepalive: asyncio.Task[None]
    webhooks: WebhookService
    admin_runner: web.AppRunner | None = None
    admin_port: int | None = None
    counters: EventCounters | None = None
    summaries: asyncio.Task[None] | None = None
    app_sync: asyncio.Task[None] | None = None

    @property
    def bus(self) -> EventBus:
        """The server's event bus: ``running.bus.on("member_added", listener)``."""
        return self.state.node.bus

    @property
    def scheme(self) -> str:
        """``https`` when TLS is on, else ``http``."""
        return "https" if self.state.settings.tls_cert else "http"

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP API."""
        host = self.state.settings.http_host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def admin_url(self) -> str | None:
        """Base URL of the admin listener, or ``None`` when it could not start."""
        if self.admin_port is None:
            return None
        host = self.state.settings.admin_host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{host}:{self.admin_port}"

    @property
    def ws_url(self) -> str:
        """Base URL of the WebSocket endpoints."""
        return self.http_url.replace("http", "ws", 1)

    async def shutdown(self) -> None:
        """Drain: stop accepting, tell clients to reconnect (4200), wait, then stop.

        Clients get ``pusher:error`` 4200 and a close frame; the server waits up to
        ``shutdown_grace_period`` seconds for them to go before it cuts the rest.
        Pending webhook deliveries (those the leaving clients caused included) are
        flushed within the same grace period.
        The listener closes first: with ``reuse_port`` and a new process on the
        same port, the clients' reconnections reach that one.
        """
        state = self.state
        state.draining = True
        self.server.close()
        for conn in list(state.connections):
            conn.close(4200, "Server is shutting down; reconnect")
        deadline = asyncio.get_running_loop().time() + state.settings.shutdown_grace_period
        while state.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(state.connections):
            conn.abort()  # the grace period is over: cut those still not drained
        await tasks.stop(self.keepalive, self.summaries, self.app_sync)
        self.reception.close()
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()
        await state.node.close()
        # Last: the node's own leaving (presence cleanup) may still emit events.
        await self.webhooks.close(deadline)
        catalog = state.node.apps
        if isinstance(catalog, AppCatalog) and catalog.database is not None:
            catalog.database.close()


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    return context


async def start_server(settings: Settings, *, bus: EventBus | None = None) -> RunningServer:
    """Build and start a server on ``settings.http_host``/``http_port`` (0 picks a free port).

    Args:
        bus: an event bus whose listeners see the server's lifecycle events from
            the start (``RunningServer.bus`` gives the server's bus in any case).

    Raises:
        ConfigError: an admin listener off loopback without ``admin_password``.
    """
    check_admin_exposure(settings)
    loop = asyncio.get_running_loop()
    # Blocking, once: a database that cannot be reached stops the start (exit 1).
    catalog = await asyncio.to_thread(build_app_catalog, settings)
    node = build_node(settings, catalog, bus=bus)
    # Listening before the node starts: the metrics and logs see everything.
    counters = EventCounters(node.bus)
    attach_debug_log(node.bus)
    try:
        await node.start()
    except BaseException:
        if catalog.database is not None:
            catalog.database.close()
        raise
    webhooks = build_webhooks(settings, node)
    await webhooks.start()
    state = ServerState(node=node, settings=settings, flusher=Flusher(loop))
    router = build_router(settings)
    tls = _ssl_context(settings)
    reception = Reception(
        state,
        MainPort(Api(state), router),
        max_body=max_request_body(settings),
        tls=tls is not None,
    )
    try:
        server = await loop.create_server(
            reception,
            settings.http_host,
            settings.http_port,
            backlog=settings.listen_backlog,
            ssl=tls,
            ssl_handshake_timeout=settings.handshake_timeout if tls else None,
            reuse_address=True,
            # Workers share the port; reuse_port lets a new process take it over
            # (a zero-gap restart, docs/reliability.md).
            reuse_port=settings.workers > 1 or settings.reuse_port,
        )
    except BaseException:
        # The node already joined the cluster (heartbeat, Redis connections):
        # leave it cleanly, or peers would list a node that never served.
        await node.close()
        await webhooks.close(loop.time())
        if catalog.database is not None:
            catalog.database.close()
        raise
    port = server.sockets[0].getsockname()[1]
    keepalive = loop.create_task(run_keepalive(state))
    summaries = loop.create_task(run_summaries(state, counters))
    app_sync = None
    if catalog.database is not None:

        async def on_change(changes: AppChanges) -> None:
            apply_app_changes(node, changes)
            await webhooks.refresh()  # at once, not at its next periodic re-read

        app_sync = loop.create_task(catalog.follow(on_change, settings.database_poll_interval))
    admin_runner, admin_port = await _start_admin(state, webhooks, counters)
    return RunningServer(
        state,
        server,
        reception,
        router,
        port,
        keepalive,
        webhooks,
        admin_runner,
        admin_port,
        counters,
        summaries,
        app_sync,
    )


async def _start_admin(
    state: ServerState, webhooks: WebhookService, counters: EventCounters
) -> tuple[web.AppRunner | None, int | None]:
    # The admin listener is a convenience: when its port is taken (a second
    # node on the same machine), the node still serves clients, and says so.
    settings = state.settings
    admin = build_admin_app(state, webhooks, counters)
    admin_runner = web.AppRunner(admin, handle_signals=False, access_log=None)
    await admin_runner.setup()
    site = web.TCPSite(
        admin_runner,
        settings.admin_host,
        settings.admin_port,
        reuse_address=True,
        reuse_port=settings.reuse_port or None,
    )
    try:
        await site.start()
    except OSError as exc:
        await admin_runner.cleanup()
        log.warning(
            "admin listener not started",
            reason=str(exc),
            hint="set TIDINGS_ADMIN_PORT (or admin_port in tidings.toml) to a free port",
        )
        return None, None
    # aiohttp exposes no public accessor for the bound port. The server is an
    # asyncio.Server or, on uvloop, a uvloop.Server: both have ``sockets``.
    sockets = getattr(site._server, "sockets", None) or ()
    port: int = sockets[0].getsockname()[1] if sockets else settings.admin_port
    return admin_runner, port
