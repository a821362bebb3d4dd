"""Deliveries, the delivery log and channel occupancy in Redis, shared by a cluster's nodes.

Keys, for prefix ``p`` (``a:c`` is app ``a``'s channel ``c``). The node-wide ones
share the hash tag ``{wh}`` (one slot on a Redis Cluster, so one script may move
a dead node's deliveries); a channel's occupancy set carries the channel's tag:

- ``p:{wh}:alive:<node>``: the node's webhook heartbeat, expiring after ``ttl`` seconds;
- ``p:{wh}:owners``: nodes that hold deliveries or occupancy (the ones to check);
- ``p:{wh}:pending:<node>`` hash delivery id -> JSON: the node's unsettled deliveries;
- ``p:wh:occ:{a:c}`` set of the nodes where the channel is occupied
  (:func:`tidings.broker.redis_keys.channel_key`);
- ``p:{wh}:node-occ:<node>`` set of the ``a:c`` a node occupies;
- ``p:{wh}:log:<a>`` hash delivery id -> JSON and ``p:{wh}:log-ids:<a>`` list (newest first).

What two nodes could race on is one Lua script over one slot (``redis_lua/``): a
channel's occupancy change, a dead node's deliveries changing hands, a log entry.
The node's occupancy index is kept around the channel's script so that it may
list a channel too many (harmless: a reap finds the node gone from it), never
one too few. The heartbeat is the webhook service's own (not the presence one):
a node flushing its deliveries on SIGTERM keeps them until it says :meth:`leave`.

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
from redis.exceptions import RedisError

from tidings.broker.redis_keys import channel_key
from tidings.broker.redis_liveness import redis_client
from tidings.broker.redis_shards import ShardMap
from tidings.errors import TidingsError
from tidings.redis_url import is_cluster_url
from tidings.webhooks.delivery import Delivery
from tidings.webhooks.store import ClusterStore, Occupancy, Reaped

__all__ = ["RedisWebhookStore", "WebhookStoreUnavailable"]

_TIMEOUT_S: Final = 3.0


class WebhookStoreUnavailable(TidingsError):
    """Redis did not answer: deliveries cannot be recorded or taken over right now."""


def _script(name: str) -> str:
    return resources.files("tidings.webhooks").joinpath(f"redis_lua/{name}.lua").read_text()


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
        self._clients = [redis_client(shard_url) for shard_url in self.shards.urls]
        self._redis = self._clients[0]  # deliveries, the log and heartbeats
        self.clustered = is_cluster_url(url)
        occupancy, reap = _script("occupancy"), _script("reap")
        self._occupancy_text = occupancy
        self._occupancy = [client.register_script(occupancy) for client in self._clients]
        self._reap = [client.register_script(reap) for client in self._clients]
        self._log_put = _script("log_put")
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
                # EVAL (cached by Redis) rather than EVALSHA: a Cluster's pipeline
                # cannot load a missing script for us.
                pipe.eval(self._log_put, 2, *keys, d.id, text, self.log_size, new)
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
        async with self._redis.pipeline(transaction=not self.clustered) as pipe:
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
        """Move ``node_id``'s deliveries, then leave each channel it occupied, then forget
        its index and ownership (in that order: a reap cut short is finished by the next)."""
        client, me = self._clients[shard], self.node_id
        keys = [
            self._key("alive", node_id),
            self._key("pending", node_id),
            self._key("pending", me),
            self._key("node-occ", node_id),
        ]
        reap = self._reap[shard](keys=keys, args=[node_id, me, "1" if force else "0"])
        moved, occupied, reaped = await self._call(reap, shard)
        if not reaped:
            return [], []  # it beats again: left alone
        deliveries = [Delivery.from_record(orjson.loads(text)) for text in moved]
        if deliveries and node_id != me:
            await self._call(client.sadd(self._key("owners"), me), shard)
        channels = []
        for raw in occupied:
            chan = raw.decode()
            app_id, _, channel = chan.partition(":")
            occ = channel_key(self.prefix, "wh:occ", app_id, channel)
            vacated = self._occupancy[shard](keys=[occ], args=["v", node_id])
            if await self._call(vacated, shard):
                channels.append((app_id, channel))
        async with client.pipeline(transaction=False) as pipe:
            pipe.delete(self._key("node-occ", node_id))
            if node_id != me:
                pipe.srem(self._key("owners"), node_id)
            await self._call(pipe.execute(), shard)
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
            return await self._apply(shard, [changes[p] for p in positions])

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

    async def _apply(self, shard: int, changes: list[Occupancy]) -> list[int]:
        """One shard's changes, in order: the index gains the channels first, each
        channel's script runs, the index loses the channels last left (three round trips)."""
        client, node, index = (
            self._clients[shard],
            self.node_id,
            self._key("node-occ", self.node_id),
        )
        last: dict[str, str] = {}
        for kind, app_id, channel in changes:
            last[f"{app_id}:{channel}"] = kind
        async with client.pipeline(transaction=False) as pipe:
            pipe.sadd(self._key("owners"), node)
            for chan in {f"{a}:{c}" for kind, a, c in changes if kind == "occupied"}:
                pipe.sadd(index, chan)
            await self._call(pipe.execute(), shard)
        async with client.pipeline(transaction=False) as pipe:
            for kind, app_id, channel in changes:
                occ = channel_key(self.prefix, "wh:occ", app_id, channel)
                # EVAL (cached by Redis): a Cluster's pipeline cannot load a missing script.
                pipe.eval(self._occupancy_text, 1, occ, "o" if kind == "occupied" else "v", node)
            crossed: list[int] = await self._call(pipe.execute(), shard)
        gone = [chan for chan, kind in last.items() if kind != "occupied"]
        if gone:
            await self._call(client.srem(index, *gone), shard)
        return crossed

    async def leave(self) -> None:
        """Stop beating now: another node takes over what this one leaves at once."""
        await self._call(self._redis.delete(self._key("alive", self.node_id)))

    # -- internals ---------------------------------------------------------------------

    def _key(self, kind: str, name: str | None = None) -> str:
        """A node-wide key: all share the hash tag ``{wh}`` (one Redis Cluster slot)."""
        return f"{self.prefix}:{{wh}}:{kind}" + (f":{name}" if name is not None else "")

    async def _call(self, pending: Awaitable[Any], shard: int = 0) -> Any:
        try:
            return await pending
        except (RedisError, OSError) as exc:
            message, hint = self.shards.unanswered(shard, exc, "webhook state unavailable")
            raise WebhookStoreUnavailable(message, hint=hint) from exc


if __debug__:

    def _check(store: RedisWebhookStore) -> ClusterStore:
        return store
