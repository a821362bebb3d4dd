"""Presence across nodes, in Redis, with node heartbeats (imported via ``tidings.broker.redis``).

Keys, for prefix ``p``, app ``a`` and channel ``c`` (``a:c`` is the channel id;
channel names cannot contain ``:``; ``{a:c}`` is the hash tag of
:mod:`tidings.broker.redis_keys`):

- ``p:presence:{a:c}`` hash ``{node}|{socket}`` → user id: every connection;
- ``p:presence-users:{a:c}`` hash user id → connections, all nodes together;
- ``p:presence-info:{a:c}`` hash user id → ``user_info`` JSON of its latest connection;
- ``p:node-presence:{node}`` hash channel id → that node's connections there
  (the index that finds a dead node's members without a KEYS scan; with
  several shards, one per shard, listing that shard's channels);
- ``p:node:{node}`` the node's heartbeat, expiring after ``heartbeat_ttl``;
- ``p:nodes`` set of node ids that ever held members or beat.

Every change is one Lua script (``redis_lua/``), so two nodes never see a
half-done update, and two survivors reaping one dead node report each user once.

Shards (several comma-separated URLs): a channel's keys live on its shard
(:class:`~tidings.broker.redis_shards.ShardMap`); heartbeats, ``p:nodes`` and
the counts on shard 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from importlib import resources
from typing import Any, Final

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from tidings.broker.base import DeadMember, LivenessHandler, PresenceFull
from tidings.broker.redis_keys import channel_key
from tidings.broker.redis_shards import ShardMap
from tidings.domain.messages import Member
from tidings.errors import TidingsError
from tidings.redis_url import connection_options
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = ["DeadMember", "RedisPresenceStore", "RedisUnavailableError"]

#: One member a dead node took away: (app id, channel, user id).
_log = structlog.get_logger(__name__)
_TIMEOUT_S: Final = 3.0


class RedisUnavailableError(TidingsError):
    """Redis did not answer, so presence cannot be read or changed right now."""

    http_status = 503


def _script(name: str) -> str:
    return resources.files("tidings.broker").joinpath(f"redis_lua/{name}.lua").read_text()


def _scripts(clients: list[Redis], name: str) -> list[AsyncScript]:
    """The script ``name`` registered on every shard's client."""
    text = _script(name)
    return [client.register_script(text) for client in clients]


def _client(url: str) -> Redis:
    url, tls = connection_options(url)  # rediss:// CA and client-certificate files
    return Redis.from_url(
        url,
        **tls,
        retry=Retry(NoBackoff(), 1),  # replaces a pooled connection Redis closed
        socket_timeout=_TIMEOUT_S,
        socket_connect_timeout=_TIMEOUT_S,
    )


class RedisPresenceStore:
    """Presence members of every node, and node liveness: the two ports over one Redis.

    ``add`` / ``remove`` / ``members`` / ``count`` / ``remove_node`` keep the
    ``PresenceStore`` semantics of the memory store (``user_info`` is the latest
    connection's). They work without ``start``. The same object is the node's
    ``NodeLiveness``: ``start(handler)`` beats every ``heartbeat_interval``,
    storing the handler's ``local_counts`` with each beat, tells the handler
    when this node's own heartbeat had lapsed, and calls ``peer_died`` for every
    node whose heartbeat expired (the node then calls ``remove_node``, which
    reports each dead user once however many survivors call it).

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
        self._clients = [_client(shard_url) for shard_url in self.shards.urls]
        # Node-wide keys (heartbeats, the node set, counts) live on shard 0.
        self._redis = self._clients[0]
        self._add: list[AsyncScript] = _scripts(self._clients, "presence_add")
        self._remove: list[AsyncScript] = _scripts(self._clients, "presence_remove")
        self._reap: list[AsyncScript] = _scripts(self._clients, "presence_reap")
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
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for client in self._clients:
            await client.aclose()

    # -- the PresenceStore protocol ------------------------------------------

    async def add(
        self,
        app_id: AppId,
        channel: ChannelName,
        socket_id: SocketId,
        member: Member,
        *,
        limit: int | None = None,
    ) -> bool:
        """Record ``socket_id`` of ``member`` on this node; ``True`` for the user's first anywhere.

        Idempotent per socket. The ``limit`` check is part of the same script.

        Raises:
            PresenceFull: a new user on a channel with ``limit`` members (all nodes).
            RedisUnavailableError: Redis is unreachable.
        """
        chan = self._chan_id(app_id, channel)
        shard = self.shards.index(app_id, channel)
        keys = [*self._keys(app_id, channel), self._node_index(self.node_id), self._nodes_key]
        args: list[str | bytes] = [
            f"{self.node_id}|{socket_id}",
            member.user_id,
            orjson.dumps(member.info),
            chan,
            self.node_id,
            str(limit or 0),
        ]
        added = int(await self._call(self._add[shard](keys=keys, args=args), shard))
        if added < 0:
            assert limit is not None
            raise PresenceFull(limit)
        return added == 1

    async def remove(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, user_id: UserId
    ) -> bool:
        """Forget ``socket_id`` on this node; ``True`` when it was the user's last anywhere."""
        chan = self._chan_id(app_id, channel)
        shard = self.shards.index(app_id, channel)
        keys = [*self._keys(app_id, channel), self._node_index(self.node_id)]
        args = [f"{self.node_id}|{socket_id}", user_id, chan]
        return bool(await self._call(self._remove[shard](keys=keys, args=args), shard))

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """Every member on every node: user id → ``user_info`` (a fresh dict)."""
        info_key = self._keys(app_id, channel)[2]
        shard = self.shards.index(app_id, channel)
        raw: dict[bytes, bytes] = await self._call(self._clients[shard].hgetall(info_key), shard)
        return {UserId(user.decode()): orjson.loads(info) for user, info in raw.items()}

    async def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on ``channel`` across every node."""
        users_key = self._keys(app_id, channel)[1]
        shard = self.shards.index(app_id, channel)
        return int(await self._call(self._clients[shard].hlen(users_key), shard))

    async def counts(
        self, app_id: AppId, channels: Sequence[ChannelName]
    ) -> dict[ChannelName, int]:
        """How many distinct users are on each of ``channels``: one pipelined round trip
        (per shard, concurrently).

        Raises:
            RedisUnavailableError: a shard holding one of ``channels`` did not answer
                (never a partial answer).
        """
        by_shard: dict[int, list[ChannelName]] = {}
        for channel in channels:
            by_shard.setdefault(self.shards.index(app_id, channel), []).append(channel)

        async def count_on(shard: int, names: list[ChannelName]) -> dict[ChannelName, int]:
            async with self._clients[shard].pipeline(transaction=False) as pipe:
                for channel in names:
                    pipe.hlen(self._keys(app_id, channel)[1])
                sizes: list[int] = await self._call(pipe.execute(), shard)
            return dict(zip(names, (int(n) for n in sizes), strict=True))

        found: dict[ChannelName, int] = {}
        for part in await asyncio.gather(*(count_on(i, n) for i, n in by_shard.items())):
            found.update(part)
        return {channel: found[channel] for channel in channels}

    # -- nodes ---------------------------------------------------------------

    async def heartbeat(self) -> bool:
        """Refresh this node's heartbeat key; ``False`` when it had expired since the last beat.

        ``False`` means peers may have removed this node's members already.

        Raises:
            RedisUnavailableError: Redis did not answer.
        """
        ttl_ms = int(self.heartbeat_ttl * 1000)
        counts = self._handler.local_counts() if self._handler is not None else None
        async with self._redis.pipeline(transaction=True) as pipe:
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

    async def present(
        self, app_id: AppId, channel: ChannelName, user_ids: Sequence[UserId]
    ) -> list[UserId]:
        """Which of ``user_ids`` are members of ``channel``, in their order: one HMGET."""
        if not user_ids:
            return []
        users_key = self._keys(app_id, channel)[1]
        shard = self.shards.index(app_id, channel)
        found = await self._call(self._clients[shard].hmget(users_key, list(user_ids)), shard)
        pairs = zip(user_ids, found, strict=True)
        return [user_id for user_id, value in pairs if value is not None]

    async def remove_node(self, node_id: str) -> list[DeadMember]:
        """Remove every member ``node_id`` holds and forget the node (clean shutdown or sweep).

        Returns the users whose last connection on a channel went with it.

        With shards, each shard's index is swept; the node is forgotten (its
        heartbeat and counts deleted on shard 0) only once every shard answered.
        A shard that did not answer keeps the node's members there for the next
        sweep, and the users removed elsewhere are still returned.

        Raises:
            RedisUnavailableError: no shard could be swept (nothing was removed).
        """
        index = self._node_index(node_id)
        gone: list[DeadMember] = []
        failed: RedisUnavailableError | None = None
        for shard in range(self.shards.count):
            try:
                gone += await self._reap_shard(shard, node_id)
            except RedisUnavailableError as exc:
                failed = exc
        if failed is not None:
            if not gone:
                raise failed
            _log.warning("a shard kept a dead node's members", node=node_id, reason=str(failed))
            return gone
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(index, self._beat_key(node_id), self._counts_key(node_id))
            pipe.srem(self._nodes_key, node_id)
            await self._call(pipe.execute())
        return gone

    async def _reap_shard(self, shard: int, node_id: str) -> list[DeadMember]:
        """Remove ``node_id``'s connections on the channels of one shard."""
        client, index = self._clients[shard], self._node_index(node_id)
        gone: list[DeadMember] = []
        channels: list[bytes] = await self._call(client.hkeys(index), shard)
        for raw in channels:
            chan = raw.decode()
            app_id, _, channel = chan.rpartition(":")
            keys = [*self._keys(app_id, channel), index]
            reap = self._reap[shard](keys=keys, args=[node_id, chan])
            users: list[bytes] = await self._call(reap, shard)
            gone += [(AppId(app_id), ChannelName(channel), UserId(u.decode())) for u in users]
        if shard:  # shard 0's index and node set go with the node's other keys
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(index)
                pipe.srem(self._nodes_key, node_id)
                await self._call(pipe.execute(), shard)
        return gone

    # -- internals -----------------------------------------------------------

    def _chan_id(self, app_id: str, channel: str) -> str:
        return f"{app_id}:{channel}"

    def _keys(self, app_id: str, channel: str) -> list[str]:
        kinds = ("presence", "presence-users", "presence-info")
        return [channel_key(self.prefix, kind, app_id, channel) for kind in kinds]

    def _node_index(self, node_id: str) -> str:
        return f"{self.prefix}:node-presence:{node_id}"

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
            label = self.shards.labels[shard]
            where = f"Redis shard {label}" if label else "Redis"
            raise RedisUnavailableError(
                f"{where} did not answer ({type(exc).__name__}: {exc}); presence is unavailable",
                hint=f"check that {where} of TIDINGS_BROKER_URL is running and reachable",
            ) from exc

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
