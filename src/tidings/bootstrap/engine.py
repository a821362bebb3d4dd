"""The engine's parts from configuration: node, app catalogue, webhooks, routes.

``build_node`` picks the broker, presence store and liveness for the broker URL,
the app store, and the hub with every wire's encoders. ``build_router`` is the
main port's one route table: every wire's WebSocket endpoint, the Pusher HTTP
API (also under ``path_prefix``), PieSocket's REST API and health. Adding a wire
protocol is one entry in ``WIRES``; adding a broker is one branch in ``_cluster``;
adding an HTTP endpoint is one ``Route`` in its module's ``routes()``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final

from tidings.apps.catalog import AppCatalog
from tidings.apps.database import AppDatabase
from tidings.broker.base import Broker, NodeLiveness, PresenceStore
from tidings.config import Settings
from tidings.core.bus import EventBus
from tidings.core.hub import Hub
from tidings.core.node import Node
from tidings.errors import ConfigError
from tidings.http import health, piesocket_api, pusher_api
from tidings.http.router import Route, Router
from tidings.typing import NodeId
from tidings.webhooks.batcher import Batcher
from tidings.webhooks.service import WebhookService
from tidings.webhooks.store import MemoryDeliveryStore
from tidings.wires.base import Wire
from tidings.wires.piesocket import PieSocketWire
from tidings.wires.pusher import PusherWire

__all__ = [
    "WIRES",
    "build_app_catalog",
    "build_node",
    "build_router",
    "build_webhooks",
    "max_request_body",
    "open_app_database",
]

WIRES: Final[Sequence[Wire]] = (PusherWire(), PieSocketWire())
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")
"""The wire protocols every server speaks, each on its own route of the main port."""


def _cluster(
    settings: Settings, node_id: NodeId
) -> tuple[Broker, PresenceStore, NodeLiveness | None]:
    url = settings.broker_url
    if url.startswith("memory://"):
        from tidings.broker.memory import MemoryBroker, MemoryPresenceStore

        memory = MemoryBroker(history_max_bytes=settings.history_max_bytes)
        return memory, MemoryPresenceStore(), None
    if url.startswith(_REDIS_SCHEMES):
        try:
            from tidings.broker.redis import RedisBroker, RedisPresenceStore
        except ImportError as exc:
            raise ConfigError(
                f"the Redis broker needs the redis extra ({exc})",
                hint="install the extra from the tidings checkout: pip install '.[redis]'",
            ) from None
        prefix = settings.redis_prefix
        ttl = settings.cluster_heartbeat_ttl
        # One Redis object is both ports: reaping a dead node's members and
        # reading its heartbeat must agree on the same keys.
        presence = RedisPresenceStore(
            url, node_id=node_id, prefix=prefix, heartbeat_ttl=ttl, heartbeat_interval=ttl / 3
        )
        broker = RedisBroker(
            url, node_id=node_id, prefix=prefix, buffer_bytes=settings.broker_buffer_bytes
        )
        return broker, presence, presence
    raise ConfigError(
        f"unsupported broker URL {url!r}", hint="use memory:// or redis://host:port/db"
    )


def open_app_database(settings: Settings) -> AppDatabase | None:
    """The app database of ``database_url``, migrated; ``None`` when it is empty.

    Raises:
        UnavailableError: it cannot be reached or migrated.
        ConfigError: an unsupported URL.
    """
    if not settings.database_url:
        return None
    return AppDatabase.open(settings.database_url)


def build_app_catalog(settings: Settings) -> AppCatalog:
    """Config apps plus the database's, loaded (blocking: call it at start-up).

    Raises:
        UnavailableError: the database cannot be reached (the server must not start).
    """
    database = open_app_database(settings)
    catalog = AppCatalog(settings.app_list(), database, settings.inherited())
    try:
        catalog.load()
    except BaseException:
        if database is not None:
            database.close()
        raise
    return catalog


def build_node(
    settings: Settings, apps: AppCatalog | None = None, *, bus: EventBus | None = None
) -> Node:
    """A node wired from ``settings``: app store, broker, presence, liveness and hub.

    Args:
        apps: the app store (default: the config apps alone, no database).
        bus: the event bus to emit lifecycle events on (a new one by default).
    """
    node_id = NodeId(settings.node_id or f"node-{secrets.token_hex(4)}")
    broker, presence, liveness = _cluster(settings, node_id)
    encoders = {name: encode for wire in WIRES for name, encode in wire.encoders.items()}
    return Node(
        node_id=node_id,
        apps=apps or AppCatalog(settings.app_list(), None, settings.inherited()),
        broker=broker,
        presence=presence,
        liveness=liveness,
        hub=Hub(encoders),
        bus=bus,
    )


def build_webhooks(settings: Settings, node: Node) -> WebhookService:
    """The node's webhook service: its store follows the broker (memory or Redis).

    With Redis, deliveries and the log live there (another node finishes what a
    dead one left) and occupancy is counted cluster-wide (``webhooks.cluster``).
    """
    batcher = Batcher(
        window=settings.webhook_batch_window,
        max_batch=settings.webhook_batch_size,
        limit=settings.webhook_queue_limit,
    )
    if not settings.broker_url.startswith(_REDIS_SCHEMES):
        store = MemoryDeliveryStore(settings.webhook_log_size)
        return WebhookService(
            node_id=node.node_id, bus=node.bus, apps=node.apps, store=store, batcher=batcher
        )
    from tidings.webhooks.cluster import ClusterDuties
    from tidings.webhooks.redis_store import RedisWebhookStore

    shared = RedisWebhookStore(
        settings.broker_url,
        node_id=node.node_id,
        prefix=settings.redis_prefix,
        ttl=settings.cluster_heartbeat_ttl,
        log_size=settings.webhook_log_size,
    )
    service = WebhookService(
        node_id=node.node_id,
        bus=node.bus,
        apps=node.apps,
        store=shared,
        batcher=batcher,
        shared_store=True,
    )
    service.duties = ClusterDuties(service, shared)
    return service


def max_request_body(settings: Settings) -> int:
    """The largest HTTP request body: a batch of ``max_batch_size`` events of
    ``max_payload_bytes`` each, and room for the JSON around them."""
    payload: int = settings.app_default("max_payload_bytes")
    batch: int = settings.app_default("max_batch_size")
    return payload * max(1, batch) + 64 * 1024


def build_router(settings: Settings, wires: Sequence[Wire] = WIRES) -> Router:
    """The main port's routes: each wire's WebSocket endpoint, the HTTP API and health.

    The Pusher HTTP API is also served under ``settings.path_prefix`` when one is set.
    """
    get = frozenset(("GET",))
    routes = [Route(get, wire.path, wire=wire) for wire in wires]
    routes += pusher_api.routes()
    if settings.path_prefix:
        routes += pusher_api.routes(settings.path_prefix)
    routes += piesocket_api.routes()
    routes += health.routes()
    return Router(routes)
