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
- heartbeats, ``p:nodes`` and counts: :mod:`tidings.broker.redis_liveness`.

Every change of a channel is one Lua script over that channel's keys only
(``redis_lua/``; one slot on a Redis Cluster), so two nodes never see a
half-done update, and two survivors reaping one dead node report each user once.
The node's index is updated around the script (see ``add``).

Shards (several comma-separated URLs): a channel's keys live on its shard
(:class:`~tidings.broker.redis_shards.ShardMap`); heartbeats, ``p:nodes`` and
the counts on shard 0.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple

import orjson
import structlog
from redis.commands.core import AsyncScript

from tidings.broker.base import DeadMember, PresenceFull
from tidings.broker.redis_keys import channel_key
from tidings.broker.redis_liveness import RedisClient, RedisNodeLiveness, RedisUnavailableError
from tidings.domain.messages import Member
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = ["DeadMember", "RedisPresenceStore", "RedisUnavailableError"]

_log = structlog.get_logger(__name__)


def _script(name: str) -> str:
    return resources.files("tidings.broker").joinpath(f"redis_lua/{name}.lua").read_text()


def _scripts(clients: list[RedisClient], name: str) -> list[AsyncScript]:
    """The script ``name`` registered on every shard's client."""
    text = _script(name)
    return [client.register_script(text) for client in clients]


_SCRIPT_NAMES = ("presence_add", "presence_remove", "presence_reap", "index_release")


class _Scripts(NamedTuple):
    """The store's Lua scripts (``redis_lua/``, named in the order of the fields), each
    registered on every shard's client."""

    add: list[AsyncScript]
    remove: list[AsyncScript]
    reap: list[AsyncScript]
    release: list[AsyncScript]


class RedisPresenceStore(RedisNodeLiveness):
    """Presence members of every node, and node liveness: the two ports over one Redis.

    ``add`` / ``remove`` / ``members`` / ``count`` / ``remove_node`` keep the
    ``PresenceStore`` semantics of the memory store (``user_info`` is the latest
    connection's). They work without ``start``. The same object is the node's
    ``NodeLiveness``: ``start(handler)`` beats every ``heartbeat_interval``,
    storing the handler's ``local_counts`` with each beat, tells the handler
    when this node's own heartbeat had lapsed, and calls ``peer_died`` for every
    node whose heartbeat expired (the node then calls ``remove_node``, which
    reports each dead user once however many survivors call it).

    Args: those of :class:`~tidings.broker.redis_liveness.RedisNodeLiveness`, whose
    constructor this class keeps.
    """

    @functools.cached_property
    def _lua(self) -> _Scripts:
        # Registered on first use, on every shard's client: registering only hashes
        # the text (redis-py loads a script into Redis on its first call).
        return _Scripts(*(_scripts(self._clients, name) for name in _SCRIPT_NAMES))

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

        The node's index (``p:node-presence:{node}``, which finds a dead node's
        members) is another key than the channel's, in another slot on a Redis
        Cluster, so it is counted up before the script and back down when the
        script recorded nothing: it may list a channel too many for a moment
        (a reap then finds nothing there), never one too few.

        Raises:
            PresenceFull: a new user on a channel with ``limit`` members (all nodes).
            RedisUnavailableError: Redis is unreachable.
        """
        chan = self._chan_id(app_id, channel)
        shard = self.shards.index(app_id, channel)
        client, index = self._clients[shard], self._node_index(self.node_id)
        args: list[str | bytes] = [
            f"{self.node_id}|{socket_id}",
            member.user_id,
            orjson.dumps(member.info),
            str(limit or 0),
        ]
        await self._call(client.hincrby(index, chan, 1), shard)
        keys = self._keys(app_id, channel)
        added = int(await self._call(self._lua.add[shard](keys=keys, args=args), shard))
        if added <= 0:  # nothing recorded: this node has no new connection there
            await self._call(self._lua.release[shard](keys=[index], args=[chan]), shard)
        if added < 0:
            assert limit is not None
            raise PresenceFull(limit)
        return added == 2

    async def remove(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, user_id: UserId
    ) -> bool:
        """Forget ``socket_id`` on this node; ``True`` when it was the user's last anywhere."""
        chan = self._chan_id(app_id, channel)
        shard = self.shards.index(app_id, channel)
        keys, args = self._keys(app_id, channel), [f"{self.node_id}|{socket_id}", user_id]
        removed = int(await self._call(self._lua.remove[shard](keys=keys, args=args), shard))
        if removed >= 0:  # the index after the channel: see add()
            index = self._node_index(self.node_id)
            await self._call(self._lua.release[shard](keys=[index], args=[chan]), shard)
        return removed == 1

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
        async with self._redis.pipeline(transaction=not self.clustered) as pipe:
            for key in (index, self._beat_key(node_id), self._counts_key(node_id)):
                pipe.delete(key)  # one key per DEL: a cluster has them on several nodes
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
            reap = self._lua.reap[shard](keys=self._keys(app_id, channel), args=[node_id])
            users: list[bytes] = await self._call(reap, shard)
            gone += [(AppId(app_id), ChannelName(channel), UserId(u.decode())) for u in users]
            await self._call(client.hdel(index, chan), shard)  # after: see add()
        if shard:  # shard 0's index goes with the node's other keys
            await self._call(client.delete(index), shard)
        return gone

    # -- internals -----------------------------------------------------------

    def _keys(self, app_id: str, channel: str) -> list[str]:
        kinds = ("presence", "presence-users", "presence-info")
        return [channel_key(self.prefix, kind, app_id, channel) for kind in kinds]

    def _node_index(self, node_id: str) -> str:
        return f"{self.prefix}:node-presence:{node_id}"
