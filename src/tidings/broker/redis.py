"""Cluster mode: the Redis broker and presence store (the ``tidings[redis]`` extra).

Many tidings nodes share one Redis. ``RedisBroker`` fans publications out over
Redis pub/sub, one Redis channel per tidings channel, subscribed only by the
nodes that have local subscribers for it. ``RedisPresenceStore`` keeps presence
members in Redis hashes tagged with the node that holds each connection, plus a
heartbeat key per node so survivors can remove a dead node's members.
docs/cluster.md describes the keys, the failure behaviour and what a client
may miss while Redis is unreachable; docs/reliability.md what a publish
accepted during an outage becomes.

The broker is a facade: ``redis_link`` holds one server's connections and
health, ``redis_outbox`` its send side, ``redis_reader`` its receive side;
``redis_cache`` reads a cache channel's last event back, ``redis_readings``
sums what the links report (health, metrics).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import RedisError

from tidings import tasks
from tidings.broker.base import Broker, BrokerHandler, NodeLiveness, PresenceStore
from tidings.broker.redis_cache import read_cached
from tidings.broker.redis_codec import decode_message, encode_message
from tidings.broker.redis_history import RedisHistory
from tidings.broker.redis_keys import channel_key
from tidings.broker.redis_link import RedisLink
from tidings.broker.redis_liveness import RedisClient
from tidings.broker.redis_outbox import CACHE_TTL_SECONDS
from tidings.broker.redis_presence import RedisPresenceStore, RedisUnavailableError
from tidings.broker.redis_readings import LinkReadings
from tidings.broker.redis_shards import ShardMap
from tidings.domain.history import HistoryPage, Retention
from tidings.domain.messages import Control, Message, Publication
from tidings.errors import UnavailableError
from tidings.typing import AppId, ChannelName

__all__ = [
    "CACHE_TTL_SECONDS",
    "RedisBroker",
    "RedisPresenceStore",
    "RedisUnavailableError",
    "decode_message",
    "encode_message",
]

_log = structlog.get_logger(__name__)


class RedisBroker(LinkReadings):
    """Fan-out between nodes over Redis pub/sub.

    Delivery: ``publish`` hands the publication to this node's handler at once
    (local subscribers never wait for Redis, and keep receiving while Redis is
    down), then queues it for Redis and returns: it does not wait for the
    round trip (unless the queue is long, ``QUEUE_LIMIT``), except a ``cache``
    publication, which returns once Redis stored it. One writer task sends the
    queue in call order, whatever queued up during one event-loop iteration in
    one pipeline, so every node sees one node's publications on a channel in
    publish order. ``close`` first lets the writer send what is queued. The
    reader skips the echo of its own node without decoding it.

    Subscriptions: one dedicated pub/sub connection, with a plain ``SUBSCRIBE``
    per channel that has local subscribers. ``subscribe`` returns once Redis
    confirmed it (while Redis is reachable), so a publish that follows is seen.

    Outages: while Redis is unreachable (or after a batch failed to send),
    publications and controls are held in order, up to ``buffer_bytes``, and
    sent once Redis is back and every peer had time to re-subscribe
    (``max_backoff`` + 0.25 s later); publishing then returns at once. A publication that
    does not fit raises ``BrokerBufferFull`` before it is delivered anywhere
    (the HTTP API answers 503 with Retry-After); client events, member changes
    and counts that do not fit are dropped, as before. A batch that failed is
    sent again; receivers drop what they already had (per-node sequence
    numbers), so nothing arrives twice.

    Health: a pub/sub connection that does not answer PING within
    ``ping_timeout``, or a command connection that fails PING, makes the broker
    unhealthy. It reconnects with jittered exponential backoff, re-subscribes
    every local channel and, once healthy again, awaits the handler's
    ``broker_recovered`` (the node resynchronises presence there). Each
    transition is logged once.

    Controls travel on one Redis channel every node subscribes to from ``start``.

    Shards: with several Redis URLs each channel's pub/sub and cache live on its
    shard (:class:`~tidings.broker.redis_shards.ShardMap`), controls on shard 0.
    Each shard has its own link: connections, writer, outage buffer (each up to
    ``buffer_bytes``) and health. A shard that is down holds (then refuses,
    naming the shard) only its own channels' publications; the others keep
    delivering. ``healthy`` is True only while every shard answers;
    ``shards_down`` names the others.

    Args:
        url: ``redis://[user:password@]host:port/db`` or ``rediss://...`` (see
            :mod:`tidings.redis_url`), or several of them comma-separated (shards).
        node_id: this node's id; must match the presence store's.
        prefix: namespace of every Redis key and channel.
        ping_interval: seconds between liveness PINGs on an idle connection.
        ping_timeout: seconds without a PING answer before Redis counts as lost.
        max_backoff: longest wait, in seconds, between reconnection attempts.
        start_timeout: how long ``start`` waits for the first connection before
            it returns with the broker unhealthy (it keeps retrying).
        buffer_bytes: most payload bytes held during an outage.
    """

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        prefix: str = "tidings",
        ping_interval: float = 1.0,
        ping_timeout: float = 3.0,
        max_backoff: float = 0.8,
        start_timeout: float = 5.0,
        buffer_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        for name, value in (
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("max_backoff", max_backoff),
            ("start_timeout", start_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not node_id:
            raise ValueError("node_id must be a non-empty string naming this node")
        self.node_id = node_id
        self.prefix = prefix
        self._start_timeout = start_timeout
        self._handler: BrokerHandler | None = None
        self._control_name = f"{prefix}:control".encode()
        self.shards = ShardMap(url)
        self._links = [
            RedisLink(
                shard_url,
                label=label,
                node_id=node_id,
                control_name=self._control_name,
                deliver=self._received,
                on_recovered=self._link_recovered,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                max_backoff=max_backoff,
                buffer_bytes=buffer_bytes,
            )
            for shard_url, label in zip(self.shards.urls, self.shards.labels, strict=True)
        ]
        # Controls travel through the first server.
        self._links[0].subscriber.wanted.add(self._control_name)
        self._histories = [
            RedisHistory(link.redis, prefix, clustered=link.clustered) for link in self._links
        ]
        # A new base at every start: a restarted node's numbers are larger than
        # those of its previous run, so peers never take them for duplicates.
        self._seq = time.time_ns()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # -- the Broker protocol -------------------------------------------------

    async def start(self, handler: BrokerHandler) -> None:
        """Connect, start the reader, writer and monitor tasks, and wait for health.

        Returns after the first successful connection, or after
        ``start_timeout`` with ``healthy`` False (a warning is logged,
        reconnection continues in the background, and the first connection
        then counts as a recovery: ``broker_recovered`` runs).
        """
        if any(link.tasks for link in self._links):
            raise RuntimeError("RedisBroker.start() called twice; create a new broker instead")
        self._handler = handler
        self._closed = False
        await asyncio.gather(*(link.start() for link in self._links))
        waits = [link.healthy_event.wait() for link in self._links]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self._start_timeout)
        except TimeoutError:
            for link in self._links:
                if not link.healthy:
                    link.was_healthy = True  # so the first connection counts as a recovery
            _log.warning(
                "redis broker started unhealthy; retrying in the background",
                node_id=self.node_id,
                waited_s=self._start_timeout,
            )

    async def close(self) -> None:
        """Send what is queued (while Redis answers, within ``ping_timeout``), then cancel
        the tasks and close both connections. Idempotent.

        What is held during an outage is not waited for: it is lost with the node.
        """
        if self._closed:
            return
        await asyncio.gather(*(link.drain() for link in self._links))
        if self._closed:
            return  # closed by a concurrent call meanwhile
        self._closed = True
        running, self._tasks = self._tasks, []
        await tasks.stop(*running)
        self._handler = None
        await asyncio.gather(*(link.close() for link in self._links))

    async def subscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """Receive ``channel`` from every node; returns once Redis confirmed the SUBSCRIBE.

        While Redis is unreachable it returns at once: the channel is
        subscribed when the connection comes back.
        """
        await self._link(app_id, channel).subscriber.subscribe(self._channel(app_id, channel))

    async def unsubscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """Stop receiving ``channel``; unknown channels are ignored."""
        await self._link(app_id, channel).subscriber.unsubscribe(self._channel(app_id, channel))

    async def publish(self, message: Message, *, keep: Retention | None = None) -> None:
        """Deliver to local subscribers now, then queue it for the other nodes.

        Returns once queued, without waiting for Redis (unless
        ``QUEUE_LIMIT`` messages are queued already). A ``cache`` publication
        is also SET as the channel's last event (30 minutes TTL) in the same
        MULTI/EXEC as the PUBLISH, and returns only once Redis executed both.
        While Redis is unreachable it is held (see the class docstring).

        Raises:
            RuntimeError: when called before ``start`` or after ``close``.
            BrokerBufferFull: a publication (not a client's) that the outage
                buffer cannot take; it was delivered nowhere.
        """
        handler = self._started()
        link = self._link(message.app_id, message.channel)
        outbox = link.outbox
        name = self._channel(message.app_id, message.channel)
        payload = self._encode(message)
        if keep is not None and type(message) is Publication and not message.from_client:
            # Kept: not delivered here; every node (this one too) receives it from
            # Redis with its serial. Held like any publication during an outage.
            if not outbox.accepts(len(payload), must_keep=True):
                raise outbox.full()
            send = self._history(message.app_id, message.channel).send(
                message,
                keep,
                payload,
                origin=self.node_id,
                seq=self._seq,
                pubsub_channel=name,
                cache_ttl=CACHE_TTL_SECONDS,
            )
            await outbox.send(name, payload, send, hold=True, wait=message.cache)
            return
        # Only publications are held during an outage; member changes and counts
        # are re-announced by the node when Redis is back.
        held, droppable, cache = False, True, False
        if type(message) is Publication:
            held, droppable, cache = True, message.from_client, message.cache
        if not outbox.accepts(len(payload), must_keep=held):
            if not droppable:
                raise outbox.full()  # before any delivery: a retry will not duplicate it
            outbox.dropped += 1
            held = False
        if name in link.subscriber.wanted:
            self._deliver(handler, message)
        cache_key = self._cache_key(message.app_id, message.channel) if cache else None
        # A cache publication waits until stored: a subscribe anywhere after this
        # returns finds it (the HTTP API answers after that).
        await outbox.send(name, payload, cache_key, hold=held, wait=cache)

    async def publish_control(self, control: Control) -> None:
        """Carry out ``control`` here now, and on every other node through Redis."""
        handler = self._started()
        outbox = self._links[0].outbox
        payload = self._encode(control)
        if not outbox.accepts(len(payload), must_keep=True):
            raise outbox.full()
        try:
            handler.handle_control(control)
        except Exception:
            _log.exception("broker control handler raised", command=control.command)
        await outbox.send(self._control_name, payload, None, hold=True, wait=True)

    async def last_event(self, app_id: AppId, channel: ChannelName) -> Publication | None:
        """The last event of a cache channel, or ``None`` (also while Redis is unreachable)."""
        link, key = self._link(app_id, channel), self._cache_key(app_id, channel)
        found = await read_cached(link, key, with_ttl=False)
        return found[0] if found is not None else None

    async def cached(self, app_id: AppId, channel: ChannelName) -> tuple[Publication, float] | None:
        """The last event of a cache channel and its remaining TTL, or ``None``."""
        link, key = self._link(app_id, channel), self._cache_key(app_id, channel)
        return await read_cached(link, key, with_ttl=True)

    async def history(
        self, app_id: AppId, channel: ChannelName, after_serial: int, limit: int
    ) -> HistoryPage:
        """The kept events of ``channel`` (see ``Broker.history`` and ``redis_history``).

        Raises:
            UnavailableError: Redis cannot be reached.
        """
        if asyncio.current_task() is None:
            # Stepped eagerly (tidings.web.eager): redis-py's connect timeouts need a
            # task, so suspend once and go on inside the one that resumes us.
            await asyncio.sleep(0)
        try:
            return await self._history(app_id, channel).read(app_id, channel, after_serial, limit)
        except (RedisError, OSError) as exc:
            raise UnavailableError(
                f"channel history is unreachable: {exc}", hint="retry once Redis is back"
            ) from exc

    def client_for(self, app_id: AppId, channel: ChannelName) -> RedisClient:
        """The command client of the Redis server that carries ``channel`` (its shard, or a
        Redis Cluster's client, which routes by slot): where a per-channel script (history:
        serial, stream and publish in one step) must run, with keys from
        :func:`~tidings.broker.redis_keys.channel_key`."""
        return self._link(app_id, channel).redis

    # -- internals -----------------------------------------------------------

    def _link(self, app_id: str, channel: str) -> RedisLink:
        """The link to the Redis server that carries ``channel``."""
        return self._links[self.shards.index(app_id, channel)]

    def _history(self, app_id: str, channel: str) -> RedisHistory:
        """The history commands of the Redis server that carries ``channel``."""
        return self._histories[self._links.index(self._link(app_id, channel))]

    def _channel(self, app_id: str, channel: str) -> bytes:
        return channel_key(self.prefix, "pub", app_id, channel).encode()

    def _cache_key(self, app_id: str, channel: str) -> bytes:
        return channel_key(self.prefix, "cache", app_id, channel).encode()

    def _started(self) -> BrokerHandler:
        handler = self._handler
        if handler is None:
            raise RuntimeError(
                "RedisBroker.publish() called before start() or after close(); "
                "call `await broker.start(handler)` first"
            )
        return handler

    def _encode(self, message: Message | Control) -> bytes:
        self._seq += 1
        return encode_message(message, self.node_id, self._seq)

    def _received(self, message: Message | Control) -> None:
        handler = self._handler
        if handler is not None:
            self._deliver(handler, message)

    def _deliver(self, handler: BrokerHandler, message: Message | Control) -> None:
        try:
            if isinstance(message, Control):
                handler.handle_control(message)
            else:
                handler.handle_message(message)
        except Exception:
            _log.exception("broker handler raised", message=type(message).__name__)

    def _link_recovered(self, link: RedisLink) -> None:
        """A server is back after an outage: let the node resynchronise."""
        if self._handler is not None:
            task = asyncio.create_task(self._recovered(self._handler))
            self._tasks.append(task)
            task.add_done_callback(self._forget_task)

    async def _recovered(self, handler: BrokerHandler) -> None:
        try:
            await handler.broker_recovered()
        except Exception:
            _log.exception("broker_recovered raised", node_id=self.node_id)

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)


if TYPE_CHECKING:
    _broker_check: type[Broker] = RedisBroker
    _presence_check: type[PresenceStore] = RedisPresenceStore
    _liveness_check: type[NodeLiveness] = RedisPresenceStore
