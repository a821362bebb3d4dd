"""Node liveness in Redis: heartbeats, the node set and per-node counts (shard 0).

The base of :class:`~tidings.broker.redis_presence.RedisPresenceStore`, which
adds the presence members; one object is both ports, so reaping a dead node's
members and reading its heartbeat agree on the same keys. Keys, for prefix ``p``:

- ``p:node:{node}`` the node's heartbeat, expiring after ``heartbeat_ttl``;
- ``p:node-counts:{node}`` hash channel id → the node's subscription count,
  rewritten with each beat (same TTL);
- ``p:nodes`` set of node ids that ever held members or beat.

With several Redis shards these live on shard 0 (the first URL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tidings import tasks
from tidings.broker.base import LivenessHandler
from tidings.broker.redis_shards import ShardMap
from tidings.errors import TidingsError
from tidings.redis_url import cluster_nodes, connection_options, is_cluster_url
from tidings.typing import AppId, ChannelName

__all__ = ["RedisClient", "RedisNodeLiveness", "RedisUnavailableError", "redis_client"]

_log = structlog.get_logger(__name__)
_TIMEOUT_S: Final = 3.0


class RedisUnavailableError(TidingsError):
    """Redis did not answer, so presence cannot be read or changed right now."""

    http_status = 503


#: A command client: one Redis server's, or a Redis Cluster's (routing by slot).
RedisClient = Redis | RedisCluster


def redis_client(url: str, *, timeout: float = _TIMEOUT_S) -> RedisClient:
    """A command client for one Redis server, or for a Redis Cluster (``redis+cluster://``).

    TLS files of ``rediss://`` URLs are applied; the cluster client finds every
    node from its seeds and follows MOVED and failovers (it refreshes its slot map).
    """
    if is_cluster_url(url):
        first, seeds = cluster_nodes(url)
        first, tls = connection_options(first)
        parts = urlsplit(first)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in seeds],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme == "rediss",
            **tls,
            retry=Retry(NoBackoff(), 1),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
    url, tls = connection_options(url)  # rediss:// CA and client-certificate files
    return Redis.from_url(
        url,
        **tls,
        retry=Retry(NoBackoff(), 1),  # replaces a pooled connection Redis closed
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


class RedisNodeLiveness:
    """The ``NodeLiveness`` port over Redis: ``start(handler)`` beats every
    ``heartbeat_interval``, storing the handler's ``local_counts`` with each beat,
    tells the handler when this node's own heartbeat had lapsed, and calls
    ``peer_died`` for every node whose heartbeat expired.

    Args:
        url: ``redis://host:port/db``, or several comma-separated (shards).
        node_id: this node's id (no ``|``); the broker's must match.
        prefix: namespace of every key.
        heartbeat_ttl: seconds after its last beat a node counts as dead.
        heartbeat_interval: seconds between beats (and dead-node sweeps).
    """

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        prefix: str = "tidings",
        heartbeat_ttl: float = 10.0,
        heartbeat_interval: float = 3.0,
    ) -> None:
        if not node_id or "|" in node_id:
            raise ValueError(f"node_id must be non-empty and contain no '|', got {node_id!r}")
        if not 0 < heartbeat_interval < heartbeat_ttl:
            raise ValueError(
                f"need 0 < heartbeat_interval < heartbeat_ttl, got {heartbeat_interval!r} "
                f"and {heartbeat_ttl!r}: a node must beat before its heartbeat expires"
            )
        self.node_id = node_id
        self.prefix = prefix
        self.heartbeat_ttl = heartbeat_ttl
        self.heartbeat_interval = heartbeat_interval
        self._handler: LivenessHandler | None = None
        self.shards = ShardMap(url)
        self._clients = [redis_client(shard_url) for shard_url in self.shards.urls]
        # Node-wide keys (heartbeats, the node set, counts) live on shard 0.
        self._redis = self._clients[0]
        #: Whether the URL names a Redis Cluster (keys of one command spread over nodes).
        self.clustered = is_cluster_url(url)
        self._nodes_key = f"{prefix}:nodes"
        self._beats = 0
        self._beating: asyncio.Task[None] | None = None
        self._reachable = True

    # -- lifecycle -----------------------------------------------------------

    async def start(self, handler: LivenessHandler | None = None) -> None:
        """Beat once, then every ``heartbeat_interval`` from a background task.

        Args:
            handler: told of lapsed beats and dead peers, asked for this node's
                counts on every beat; without one the store only beats.

        Raises:
            RedisUnavailableError: the first beat failed.
        """
        if self._beating is not None:
            return
        self._handler = handler
        await self.heartbeat()
        self._beating = asyncio.create_task(self._run_heartbeat(), name="redis-presence-heartbeat")

    async def close(self) -> None:
        """Stop beating and close the connection; members stay (see ``remove_node``). Idempotent."""
        task, self._beating = self._beating, None
        await tasks.stop(task)
        for client in self._clients:
            await client.aclose()

    # -- nodes ---------------------------------------------------------------

    async def heartbeat(self) -> bool:
        """Refresh this node's heartbeat key; ``False`` when it had expired since the last beat.

        ``False`` means peers may have removed this node's members already.

        Raises:
            RedisUnavailableError: Redis did not answer.
        """
        ttl_ms = int(self.heartbeat_ttl * 1000)
        counts = self._handler.local_counts() if self._handler is not None else None
        # A Redis Cluster has these keys on several nodes: no MULTI there (the counts
        # are a beat old anyway; a reader between DEL and HSET sees them a beat later).
        async with self._redis.pipeline(transaction=not self.clustered) as pipe:
            pipe.set(self._beat_key(self.node_id), str(time.time()), px=ttl_ms, get=True)
            pipe.sadd(self._nodes_key, self.node_id)
            if counts is not None:
                counts_key = self._counts_key(self.node_id)
                pipe.delete(counts_key)
                if counts:
                    fields = {self._chan_id(a, c): n for (a, c), n in counts.items()}
                    pipe.hset(counts_key, mapping=fields)  # type: ignore[arg-type]
                    pipe.pexpire(counts_key, ttl_ms)
            previous = (await self._call(pipe.execute()))[0]
        lapsed = previous is None and self._beats > 0
        self._beats += 1
        return not lapsed

    async def cluster_counts(self, app_id: AppId) -> dict[ChannelName, int]:
        """Subscription counts of ``app_id`` stored by the OTHER live nodes, summed per channel.

        Each node stores its counts on every beat, so they are at most
        ``heartbeat_interval`` seconds old; add this node's own live counts.
        """
        states = await self._node_states()
        others = [n for n, alive in states.items() if alive and n != self.node_id]
        totals: dict[ChannelName, int] = {}
        if not others:
            return totals
        prefix = f"{app_id}:"
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.hgetall(self._counts_key(node))
            hashes: list[dict[bytes, bytes]] = await self._call(pipe.execute())
        for fields in hashes:
            for raw, count in fields.items():
                chan = raw.decode()
                if chan.startswith(prefix):
                    name = ChannelName(chan[len(prefix) :])
                    totals[name] = totals.get(name, 0) + int(count)
        return totals

    async def peers(self) -> list[str]:
        """Ids of the nodes whose heartbeat is alive, this one included, sorted."""
        return sorted(node for node, alive in (await self._node_states()).items() if alive)

    async def dead_nodes(self) -> list[str]:
        """Ids of the nodes whose heartbeat expired (never this node's), sorted."""
        states = await self._node_states()
        return [node for node, alive in states.items() if not alive and node != self.node_id]

    # -- internals -----------------------------------------------------------

    def _chan_id(self, app_id: str, channel: str) -> str:
        return f"{app_id}:{channel}"

    def _counts_key(self, node_id: str) -> str:
        return f"{self.prefix}:node-counts:{node_id}"

    def _beat_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    async def _node_states(self) -> dict[str, bool]:
        """Every known node id → whether its heartbeat key exists."""
        raw: set[bytes] = await self._call(self._redis.smembers(self._nodes_key))
        nodes = sorted(n.decode() for n in raw)
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in nodes:
                pipe.exists(self._beat_key(node))
            alive: list[int] = await self._call(pipe.execute()) if nodes else []
        return {node: bool(a) for node, a in zip(nodes, alive, strict=True)}

    async def _call(self, pending: Awaitable[Any], shard: int = 0) -> Any:
        """Await a Redis call; turn a lost connection into ``RedisUnavailableError``."""
        if asyncio.current_task() is None:
            # redis-py's timeouts (asyncio.timeout) need a task, and a coroutine the
            # WebSocket shell steps eagerly (web/eager.py) has none until it first
            # waits: a new connection (a shard's first command, or one more for
            # concurrent calls) failed with "Timeout should be used inside a task".
            await asyncio.sleep(0)
        try:
            return await pending
        except (RedisError, OSError) as exc:
            message, hint = self.shards.unanswered(shard, exc, "presence is unavailable")
            raise RedisUnavailableError(message, hint=hint) from exc

    async def _run_heartbeat(self) -> None:
        """Beat and sweep for dead peers every ``heartbeat_interval``; tell the handler."""
        # Until close() forgets the task: a cancel racing redis-py's read timeout can
        # surface as a TimeoutError, which the loop would otherwise catch and go on.
        while self._beating is not None:
            await asyncio.sleep(self.heartbeat_interval)
            handler = self._handler
            try:
                fresh = await self.heartbeat()
                if handler is not None:
                    if not fresh:
                        await handler.heartbeat_lapsed()
                    for node in await self.dead_nodes():
                        await handler.peer_died(node)
            except RedisUnavailableError as exc:
                if self._reachable:
                    self._reachable = False
                    _log.warning("presence heartbeat failed", node_id=self.node_id, reason=str(exc))
                continue
            except Exception:
                _log.exception("liveness handler raised", node_id=self.node_id)
                continue
            if not self._reachable:
                self._reachable = True
                _log.info("presence heartbeat restored", node_id=self.node_id)
