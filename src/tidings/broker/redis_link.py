"""One Redis server as the broker uses it: command client, outbox, pub/sub reader, health.

``RedisLink`` puts a server's send side (``RedisOutbox``) and receive side
(``RedisSubscriber``) together with a command-connection monitor, and turns
their states into one health flag: healthy while both connections answer.
The broker owns one link per Redis server (one, or one per shard).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from tidings import tasks
from tidings.broker.redis_cluster import RedisClusterSubscriber
from tidings.broker.redis_liveness import RedisClient, redis_client
from tidings.broker.redis_outbox import RedisOutbox
from tidings.broker.redis_reader import RedisSubscriber, pubsub_pool
from tidings.domain.messages import Control, Message
from tidings.redis_url import cluster_nodes, connection_options

__all__ = ["RedisLink"]

_log = structlog.get_logger(__name__)


class RedisLink:
    """The broker's connections to one Redis server, and whether they answer.

    Health: a pub/sub connection that does not answer PING within
    ``ping_timeout``, or a command connection that fails PING, makes the link
    unhealthy; sends are then held by the outbox. Each transition is logged
    once; a return to health after an outage (not the first connection) calls
    ``on_recovered``.

    Args:
        url: ``redis://[user:password@]host:port/db`` or ``rediss://...``.
        label: names this server in logs and errors (empty with one server).
        node_id: this node's id.
        control_name: the control channel's name.
        deliver: called with every message of another node this link receives.
        on_recovered: called when this link is healthy again after an outage.
        ping_interval / ping_timeout / max_backoff / buffer_bytes: see ``RedisBroker``.
    """

    def __init__(
        self,
        url: str,
        *,
        label: str,
        node_id: str,
        control_name: bytes,
        deliver: Callable[[Message | Control], None],
        on_recovered: Callable[[RedisLink], None],
        ping_interval: float,
        ping_timeout: float,
        max_backoff: float,
        buffer_bytes: int,
    ) -> None:
        self.label = label
        self.node_id = node_id
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._on_recovered = on_recovered
        # No retries inside redis-py on the pub/sub connection, one immediate
        # retry for commands (it replaces a pooled connection Redis closed while
        # it idled): this class owns reconnection, so an outage is seen (and
        # logged) instead of being retried away silently.
        self.redis: RedisClient = redis_client(url, timeout=ping_timeout)
        self.clustered = isinstance(self.redis, RedisCluster)
        self.outbox = RedisOutbox(
            self.redis,
            control_name=control_name,
            buffer_bytes=buffer_bytes,
            max_backoff=max_backoff,
            on_failure=lambda exc: self._set_cmd_up(False, exc),
            label=label,
            sharded_pubsub=self.clustered,
        )
        self.subscriber: RedisSubscriber | RedisClusterSubscriber
        if isinstance(self.redis, RedisCluster):
            self.subscriber = RedisClusterSubscriber(
                self.redis,
                cluster_nodes(url)[0],
                node_id=node_id,
                deliver=deliver,
                on_up=self._on_sub_up,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_backoff=max_backoff,
            )
        else:
            plain, tls = connection_options(url)  # rediss:// CA and client-certificate files
            self.subscriber = RedisSubscriber(
                pubsub_pool(plain, tls, node_id=node_id, connect_timeout=ping_timeout),
                node_id=node_id,
                deliver=deliver,
                on_up=self._on_sub_up,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_backoff=max_backoff,
            )
        self.tasks: list[asyncio.Task[Any]] = []
        self.healthy = False
        self.healthy_event = asyncio.Event()
        #: True once the link was healthy (or gave up waiting at start): the
        #: next return to health is then a recovery.
        self.was_healthy = False
        self.closed = False
        #: Recoveries after an outage.
        self.reconnects = 0
        #: Seconds the last monitor PING took, ``None`` before the first one.
        self.round_trip: float | None = None
        #: Why the link is unhealthy (the last failure), for ``/ready`` and logs.
        self.reason = "not connected yet"

    async def start(self) -> None:
        """PING once, then start the reader, writer and monitor tasks (returns at once)."""
        await self.check_commands()
        self.tasks += [
            asyncio.create_task(self.subscriber.run(), name="redis-broker-reader"),
            asyncio.create_task(self.outbox.run_writer(), name="redis-broker-writer"),
            asyncio.create_task(self._run_monitor(), name="redis-broker-monitor"),
        ]

    async def drain(self) -> None:
        """Let the writer send what is queued, within ``ping_timeout``, while the server answers."""
        if self.tasks:
            await self.outbox.drain(self._ping_timeout)

    async def close(self) -> None:
        """Cancel the tasks, release waiters and close both connections."""
        self.closed = self.subscriber.closed = True
        self.outbox.close()
        running, self.tasks = self.tasks, []
        await tasks.stop(*running)
        self.subscriber.release_waiters()
        self.outbox.close()
        self.healthy = self.outbox.commands_up = self.subscriber.up = False
        await self.redis.aclose()
        if isinstance(self.subscriber, RedisClusterSubscriber):
            await self.subscriber.disconnect()
        else:
            await self.subscriber.pool.disconnect()

    async def check_commands(self) -> None:
        """PING the command connection; record the round trip and the outcome."""
        started = time.perf_counter()
        try:
            if isinstance(self.redis, RedisCluster):
                await self.redis.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await self.redis.ping()
        except (RedisError, OSError) as exc:
            self._set_cmd_up(False, exc)
        else:
            self.round_trip = time.perf_counter() - started
            self._set_cmd_up(True)

    def command_failed(self, exc: BaseException) -> None:
        """A command on this server failed: unhealthy until the monitor's next PING."""
        self._set_cmd_up(False, exc)

    async def _run_monitor(self) -> None:
        """PING the command connection every ``ping_interval``."""
        while not self.closed:  # see RedisSubscriber.run: a cancel may surface as a timeout
            await asyncio.sleep(self._ping_interval)
            await self.check_commands()

    def _on_sub_up(self, up: bool, reason: BaseException | None) -> None:
        if not up:
            # Same server: health needs a fresh command PING too, else a
            # stale command connection could flap health right after.
            self.outbox.commands_up = False
        self._update_health(reason)

    def _set_cmd_up(self, up: bool, reason: BaseException | None = None) -> None:
        self.outbox.commands_up = up
        self._update_health(reason)

    def _update_health(self, reason: BaseException | None) -> None:
        """Log a transition once and tell the owner after an outage."""
        if self.closed:
            return  # close() is not an outage
        healthy = self.outbox.commands_up and self.subscriber.up
        if not healthy and reason is not None:
            self.reason = f"{type(reason).__name__}: {reason}"
        if healthy == self.healthy:
            return
        self.healthy = healthy
        shard = {"shard": self.label} if self.label else {}
        if not healthy:
            self.reason = self.reason or "unknown"
            if self.outbox.hold():
                _log.info("holding publications until redis is back", node_id=self.node_id, **shard)
            self.healthy_event.clear()
            _log.warning(
                "redis unreachable; serving local subscribers only",
                node_id=self.node_id,
                reason=self.reason,
                **shard,
            )
            return
        self.reason = ""
        self.healthy_event.set()
        self.outbox.resume(self.tasks)
        if not self.was_healthy:
            self.was_healthy = True
            return  # the first connection: nothing to recover
        self.reconnects += 1
        _log.info("redis reachable again; resubscribed", node_id=self.node_id, **shard)
        self._on_recovered(self)
