"""The receive side on a Redis Cluster: one sharded pub/sub connection per master.

A Redis Cluster (``redis+cluster://``) carries each channel's pub/sub on the
master that owns the channel's slot (``SSUBSCRIBE`` / ``SPUBLISH``, Redis >= 7):
the hash tag ``{app:channel}`` puts the pub/sub channel in the same slot as the
channel's keys. ``RedisClusterSubscriber`` keeps one ``RedisSubscriber`` (one
connection, sharded mode) per master that owns a wanted channel, not one per
channel, and moves channels when the topology changes: a master that reports a
channel unsubscribed (its slot moved), a connection lost (a failover), or a slot
map refreshed by a MOVED answer to a command. Every ``ping_interval`` it compares
each wanted channel's owner with the cluster client's slot map.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from tidings import tasks
from tidings.broker.redis_reader import RedisSubscriber, pubsub_pool
from tidings.domain.messages import Control, Message
from tidings.redis_url import connection_options

__all__ = ["RedisClusterSubscriber"]

_log = structlog.get_logger(__name__)


class RedisClusterSubscriber:
    """The wanted channels of one node, each subscribed on the master that owns its slot.

    Offers what ``RedisLink`` asks of a ``RedisSubscriber``: ``wanted``,
    ``subscribe``, ``unsubscribe``, ``run``, ``up``, ``closed``,
    ``release_waiters`` and ``disconnect``. ``up`` is True while every master's
    connection answers.

    Args:
        client: the cluster's command client (its slot map says who owns what).
        url: a plain ``redis://`` / ``rediss://`` URL with the credentials and TLS
            options every master shares (the host is replaced per master).
        node_id / deliver / ping_interval / ping_timeout / max_backoff: as
            ``RedisSubscriber``'s.
        on_up: called on every change of ``up``.
    """

    def __init__(
        self,
        client: RedisCluster,
        url: str,
        *,
        node_id: str,
        deliver: Callable[[Message | Control], None],
        on_up: Callable[[bool, BaseException | None], None],
        ping_interval: float,
        ping_timeout: float,
        max_backoff: float,
    ) -> None:
        self._client = client
        self._url, self._tls = connection_options(url)
        self._node_id = node_id
        self._deliver = deliver
        self._on_up = on_up
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_backoff = max_backoff
        #: The shard channels this node receives.
        self.wanted: set[bytes] = set()
        self.up = False
        self.closed = False
        self._masters: dict[str, RedisSubscriber] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._owner: dict[bytes, str] = {}
        self._refresh = asyncio.Event()
        self._failed: set[str] = set()

    async def subscribe(self, name: bytes) -> None:
        """Receive ``name`` from the master that owns its slot (returns once it confirmed)."""
        self.wanted.add(name)
        master = self._master_of(name)
        if master is None:
            return  # no slot map yet: run() places every wanted channel once it has one
        self._owner[name] = master
        subscriber = self._subscriber(master)
        await subscriber.subscribe(name)  # sent and confirmed if connected, else remembered
        if not subscriber.ready.is_set():
            # A master this node is still connecting to subscribes the channel when it
            # connects, confirmed by its first PONG (so a publish after this is seen).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.ready.wait(), self._ping_timeout)

    async def unsubscribe(self, name: bytes) -> None:
        """Stop receiving ``name``; unknown names are ignored."""
        self.wanted.discard(name)
        master = self._owner.pop(name, None)
        if master is not None and master in self._masters:
            await self._masters[master].unsubscribe(name)

    async def run(self) -> None:
        """Place every wanted channel on its master, then check the placement every
        ``ping_interval`` (sooner when a master moved a channel or lost its connection)."""
        while not self.closed:
            try:
                await self._place()
            except (RedisError, RedisClusterException, OSError) as exc:
                _log.warning("redis cluster: placing channels failed; retrying", reason=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh.wait(), self._ping_interval)
            if self._refresh.is_set():
                self._refresh.clear()
                with contextlib.suppress(RedisError, RedisClusterException, OSError):
                    await self._client.nodes_manager.initialize()  # a fresh slot map

    def release_waiters(self) -> None:
        """Let every pending ``subscribe`` return (the connections are going)."""
        for subscriber in self._masters.values():
            subscriber.release_waiters()

    async def disconnect(self) -> None:
        """Stop every master's reader and close its connections."""
        self.closed = True
        for subscriber in self._masters.values():
            subscriber.closed = True
        await tasks.stop(*self._tasks.values())
        for subscriber in self._masters.values():
            await subscriber.pool.disconnect()

    # -- internals ---------------------------------------------------------------

    def _master_of(self, name: bytes) -> str | None:
        try:
            node: Any = self._client.get_node_from_key(name.decode())
        except (RedisError, RedisClusterException, IndexError, KeyError):
            return None
        return None if node is None else str(node.name)

    async def _place(self) -> None:
        """Move each wanted channel whose slot has another owner now; drop idle masters."""
        for name in list(self.wanted):
            master = self._master_of(name)
            if master is None or self._owner.get(name) == master:
                continue
            old = self._owner.get(name)
            if old is not None and old in self._masters:
                self._masters[old].wanted.discard(name)  # gone from there with the slot
            self._owner[name] = master
            if old is not None:
                _log.info("channel moved to another redis master", channel=name.decode(), to=master)
            await self._subscriber(master).subscribe(name)
        for master, subscriber in list(self._masters.items()):
            if not subscriber.wanted and master not in self._owner.values():
                await self._drop(master)
        self._update()

    def _subscriber(self, master: str) -> RedisSubscriber:
        subscriber = self._masters.get(master)
        if subscriber is not None:
            return subscriber
        parts = urlsplit(self._url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@{master}" if auth else master
        pool = pubsub_pool(
            urlunsplit(parts._replace(netloc=netloc)),
            self._tls,
            node_id=self._node_id,
            connect_timeout=self._ping_timeout,
        )
        subscriber = RedisSubscriber(
            pool,
            node_id=self._node_id,
            deliver=self._deliver,
            on_up=lambda up, reason: self._master_up(master, up, reason),
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            max_backoff=self._max_backoff,
            sharded=True,
            on_moved=self._moved,
        )
        self._masters[master] = subscriber
        self._tasks[master] = asyncio.create_task(subscriber.run(), name=f"redis-shard-{master}")
        return subscriber

    async def _drop(self, master: str) -> None:
        subscriber = self._masters.pop(master)
        self._failed.discard(master)
        subscriber.closed = True
        await tasks.stop(self._tasks.pop(master))
        await subscriber.pool.disconnect()

    def _moved(self, name: bytes) -> None:
        """A master unsubscribed a wanted channel by itself: its slot moved."""
        self._owner.pop(name, None)
        self._refresh.set()

    def _master_up(self, master: str, up: bool, reason: BaseException | None) -> None:
        if up:
            self._failed.discard(master)
        else:
            self._failed.add(master)
            self._refresh.set()  # a failover gives the slots another master
        self._update(reason)

    def _update(self, reason: BaseException | None = None) -> None:
        """Up once every master's connection answered; then down only while one fails (a
        master newly needed, still connecting, does not make the node unhealthy)."""
        masters = self._masters.values()
        up = bool(self._masters) and not (self._failed & self._masters.keys())
        up = up and (self.up or all(s.up for s in masters))
        if up != self.up:
            self.up = up
            self._on_up(up, reason)
