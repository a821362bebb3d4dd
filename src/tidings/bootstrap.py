"""The only place where configuration strings become implementations."""

from __future__ import annotations

import secrets

from tidings.apps.static import StaticAppStore
from tidings.broker.base import Broker, PresenceStore
from tidings.config import Settings
from tidings.core.encoders import piesocket_frame, pusher_frame
from tidings.core.hub import Hub
from tidings.core.model import Wire
from tidings.core.node import Node
from tidings.errors import ConfigError
from tidings.typing import NodeId

__all__ = ["build_node"]


def _broker(settings: Settings, node_id: NodeId) -> tuple[Broker, PresenceStore]:
    url = settings.broker_url
    if url.startswith("memory://"):
        from tidings.broker.memory import MemoryBroker, MemoryPresenceStore

        return MemoryBroker(), MemoryPresenceStore()
    if url.startswith(("redis://", "rediss://")):
        try:
            from tidings.broker.redis import RedisBroker, RedisPresenceStore
        except ImportError as exc:
            raise ConfigError(
                f"the Redis broker needs the redis extra ({exc})",
                hint="pip install 'tidings[redis]'",
            ) from None
        prefix = settings.redis_prefix
        ttl = settings.cluster_heartbeat_ttl
        presence = RedisPresenceStore(
            url, node_id=node_id, prefix=prefix, heartbeat_ttl=ttl, heartbeat_interval=ttl / 3
        )
        return RedisBroker(url, node_id=node_id, prefix=prefix), presence
    raise ConfigError(
        f"unsupported broker URL {url!r}", hint="use memory:// or redis://host:port/db"
    )


def build_node(settings: Settings) -> Node:
    """A node wired from ``settings``: app store, broker, presence store and hub."""
    node_id = NodeId(settings.node_id or f"node-{secrets.token_hex(4)}")
    broker, presence = _broker(settings, node_id)
    return Node(
        node_id=node_id,
        apps=StaticAppStore(settings.app_list()),
        broker=broker,
        presence=presence,
        hub=Hub({Wire.PUSHER: pusher_frame, Wire.PIESOCKET: piesocket_frame}),
    )
