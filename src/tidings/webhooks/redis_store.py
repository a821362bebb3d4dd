"""Deliveries, the delivery log and channel occupancy in Redis, shared by a cluster's nodes.

Keys, for prefix ``p`` (``a:c`` is app ``a``'s channel ``c``):

- ``p:wh:alive:{node}``: the node's webhook heartbeat, expiring after ``ttl`` seconds;
- ``p:wh:owners``: nodes that hold deliveries or occupancy (the ones to check);
- ``p:wh:pending:{node}`` hash delivery id -> JSON: the node's unsettled deliveries;
- ``p:wh:occ:{a:c}`` set of the nodes where the channel is occupied (hash-tagged:
  :func:`tidings.broker.redis_keys.channel_key`);
- ``p:wh:node-occ:{node}`` set of the ``a:c`` a node occupies;
- ``p:wh:log:a`` hash delivery id -> JSON and ``p:wh:log-ids:a`` list (newest first).

Every change that two nodes could race on is one Lua script (``redis_lua/``).
The heartbeat is the webhook service's own (not the presence one): a node
flushing its deliveries on SIGTERM keeps them until it says :meth:`leave`.

Shards (several comma-separated URLs): a channel's occupancy set lives on the
channel's shard (:class:`~tidings.broker.redis_shards.ShardMap`), with that
shard's own ``owners`` set and ``node-occ`` index; deliveries, the log and the
heartbeats on shard 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from importlib import resources
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from tidings.broker.redis_shards import ShardMap
from tidings.errors import TidingsError
from tidings.redis_url import connection_options
from tidings.webhooks.delivery import Delivery
from tidings.webhooks.store import ClusterStore, Occupancy, Reaped

__all__ = ["RedisWebhookStore", "WebhookStoreUnavailable"]

_TIMEOUT_S: Final = 3.0


class WebhookStoreUnavailable(TidingsError):
    """Redis did not answer: deliveries cannot be recorded or taken over right now."""


def _script(name: str) -> str:
    return resources.files("tidings.webhooks").joinpath(f"redis_lua/{name}.lua").read_text()


def _client(url: str) -> Redis:
    url, tls = connection_options(url)  # rediss:// CA and client-certificate files
    return Redis.from_url(
        url,
        **tls,
        retry=Retry(NoBackoff(), 1),
        socket_timeout=_TIMEOUT_S,
        socket_connect_timeout=_TIMEOUT_S,
    )


class RedisWebhookStore:
    """The :class:`~tidings.webhooks.store.ClusterStore` over Redis.

    Args:
        url: ``redis://host:port/db`` (the broker's), or several comma-separated (shards).
        node_id: this node's id.
        prefix: namespace of every key (the broker's ``redis_prefix``).
        ttl: seconds after its last beat a node counts as dead.
        log_size: deliveries kept per app in the log.
    """

    def __init__(self, url: str, *, node_id: str, prefix: str, ttl: float, log_size: int) -> None:
        self.node_id = node_id
        self.prefix = prefix
        self.ttl = ttl
        self.beat_interval = ttl / 3
        self.log_size = log_size
        self.shards = ShardMap(url)
        self._clients = [_client(shard_url) for shard_url in self.shards.urls]
        self._redis = self._clients[0]  # deliveries, the log and heartbeats
        occupancy, reap = _script("occupancy"), _script("reap")
        self._occupancy = [client.register_script(occupancy) for client in self._clients]
        self._reap = [client.register_script(reap) for client in self._clients]
        self._log_put: AsyncScript = self._redis.register_script(_script("log_put"))
        self._beats = 0

    # -- DeliveryStore -------------------------------------------------------------

    async def put(self, deliveries: Sequence[Delivery]) -> None:
        """Keep unsettled deliveries as this node's, release settled ones; update the log."""
        if not deliveries:
            return
        pending = self._key("pending", self.node_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for d in deliveries:
                text = orjson.dumps(d.record())
                if d.settled:
                    pipe.hdel(pending, d.id)
                else:
                    pipe.hset(pending, d.id, text)
                new = "1" if d.attempts == 0 and d.status == "pending" else "0"
                keys = [self._key("log", d.app_id), self._key("log-ids", d.app_id)]
                await self._log_put(keys=keys, args=[d.id, text, self.log_size, new], client=pipe)
            await self._call(pipe.execute())

    async def recent(self, app_id: str, limit: int) -> list[Delivery]:
        """The app's latest ``limit`` deliveries (every node's), newest first."""
        ids: list[bytes] = await self._call(
            self._redis.lrange(self._key("log-ids", app_id), 0, limit - 1)
        )
        if not ids:
            return []
        texts: list[bytes | None] = await self._call(
            self._redis.hmget(self._key("log", app_id), ids)
        )
        return [Delivery.from_record(orjson.loads(t)) for t in texts if t is not None]

    async def get(self, app_id: str, delivery_id: str) -> Delivery | None:
        """One delivery of the log, or ``None``."""
        text = await self._call(self._redis.hget(self._key("log", app_id), delivery_id))
        return Delivery.from_record(orjson.loads(text)) if text is not None else None

    async def close(self) -> None:
        """Close the connections; this node's unsettled deliveries stay for a survivor."""
        for client in self._clients:
            await client.aclose()

    # -- ClusterStore ----------------------------------------------------------------

    async def beat(self) -> bool:
        """Refresh this node's webhook heartbeat; ``False`` when it had expired meanwhile."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("alive", self.node_id), "1", px=int(self.ttl * 1000), get=True)
            pipe.sadd(self._key("owners"), self.node_id)
            previous = (await self._call(pipe.execute()))[0]
        lapsed = previous is None and self._beats > 0
        self._beats += 1
        return not lapsed

    async def dead_owners(self) -> list[str]:
        """Nodes holding deliveries or occupancy whose heartbeat expired (not this one)."""
        raw: set[bytes] = await self._call(self._redis.smembers(self._key("owners")))
        nodes = sorted(n.decode() for n in raw if n.decode() != self.node_id)
        if not nodes:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for node in nodes:
                pipe.exists(self._key("alive", node))
            alive: list[int] = await self._call(pipe.execute())
        return [node for node, up in zip(nodes, alive, strict=True) if not up]

    async def reap(self, node_id: str, *, force: bool = False) -> Reaped:
        """Take over ``node_id``'s deliveries and drop its occupancy (atomic; see the script).

        With shards, the other shards' occupancy goes first (once the node is
        seen dead on shard 0, unless ``force``), then shard 0's with the
        deliveries. A shard that does not answer keeps its part, and shard 0
        keeps the node as an owner, so the next sweep finishes the job; the
        channels vacated on the shards that answered are returned.
        """
        if self.shards.count > 1 and not force:
            alive = await self._call(self._redis.exists(self._key("alive", node_id)))
            if alive:
                return [], []
        channels: list[tuple[str, str]] = []
        failed: WebhookStoreUnavailable | None = None
        for shard in range(1, self.shards.count):
            try:
                channels += (await self._reap_shard(shard, node_id, force=True))[1]
            except WebhookStoreUnavailable as exc:
                failed = exc
        if failed is not None:
            if not channels:
                raise failed
            return [], channels
        deliveries, vacated = await self._reap_shard(0, node_id, force=force)
        return deliveries, vacated + channels

    async def _reap_shard(self, shard: int, node_id: str, *, force: bool) -> Reaped:
        args = [self.prefix, node_id, self.node_id, "1" if force else "0"]
        moved, vacated = await self._call(self._reap[shard](keys=[], args=args), shard)
        deliveries = [Delivery.from_record(orjson.loads(text)) for text in moved]
        channels = []
        for raw in vacated:
            app_id, _, channel = raw.decode().partition(":")
            channels.append((app_id, channel))
        return deliveries, channels

    async def occupancy(self, changes: Sequence[Occupancy]) -> list[bool | None]:
        """Apply this node's occupancy changes in order; ``True`` where the cluster crossed.

        One script per shard (concurrently); ``None`` for the changes of a shard
        that did not answer.

        Raises:
            WebhookStoreUnavailable: no shard answered.
        """
        if not changes:
            return []
        by_shard: dict[int, list[int]] = {}
        for position, (_, app_id, channel) in enumerate(changes):
            by_shard.setdefault(self.shards.index(app_id, channel), []).append(position)

        async def apply(shard: int, positions: list[int]) -> list[int]:
            args: list[str] = [self.prefix, self.node_id]
            for kind, app_id, channel in (changes[p] for p in positions):
                args += ["o" if kind == "occupied" else "v", f"{app_id}:{channel}"]
            crossed: list[int] = await self._call(self._occupancy[shard](keys=[], args=args), shard)
            return crossed

        shards = list(by_shard.items())
        results = await asyncio.gather(*(apply(s, p) for s, p in shards), return_exceptions=True)
        out: list[bool | None] = [None] * len(changes)
        for (_, positions), result in zip(shards, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, WebhookStoreUnavailable):
                    raise result
                if len(shards) == 1:
                    raise result
                continue
            for position, crossed in zip(positions, result, strict=True):
                out[position] = bool(crossed)
        if all(c is None for c in out):
            first = next(r for r in results if isinstance(r, BaseException))
            raise first
        return out

    async def leave(self) -> None:
        """Stop beating now: another node takes over what this one leaves at once."""
        await self._call(self._redis.delete(self._key("alive", self.node_id)))

    # -- internals ---------------------------------------------------------------------

    def _key(self, kind: str, name: str | None = None) -> str:
        return f"{self.prefix}:wh:{kind}" + (f":{name}" if name is not None else "")

    async def _call(self, pending: Awaitable[Any], shard: int = 0) -> Any:
        try:
            return await pending
        except (RedisError, OSError) as exc:
            label = self.shards.labels[shard]
            where = f"Redis shard {label}" if label else "Redis"
            raise WebhookStoreUnavailable(
                f"{where} did not answer ({type(exc).__name__}: {exc}); webhook state unavailable",
                hint=f"check that {where} of TIDINGS_BROKER_URL is running and reachable",
            ) from exc


if __debug__:

    def _check(store: RedisWebhookStore) -> ClusterStore:
        return store
