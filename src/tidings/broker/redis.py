"""Cluster mode: the Redis broker and presence store (the ``tidings[redis]`` extra).

Many tidings nodes share one Redis. ``RedisBroker`` fans publications out over
Redis pub/sub, one Redis channel per tidings channel, subscribed only by the
nodes that have local subscribers for it. ``RedisPresenceStore`` keeps presence
members in Redis hashes tagged with the node that holds each connection, plus a
heartbeat key per node so survivors can remove a dead node's members.
docs/cluster.md describes the keys, the failure behaviour and what a client
may miss while Redis is unreachable; docs/reliability.md what a publish
accepted during an outage becomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import structlog
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tidings.broker.base import Broker, BrokerHandler, NodeLiveness, PresenceStore
from tidings.broker.redis_codec import (
    decode_message,
    encode_message,
    is_publication,
    origin_prefix,
)
from tidings.broker.redis_presence import RedisPresenceStore, RedisUnavailableError
from tidings.domain.messages import Control, Message, Publication
from tidings.errors import BrokerBufferFull
from tidings.redis_url import connection_options
from tidings.typing import AppId, ChannelName

__all__ = [
    "CACHE_TTL_SECONDS",
    "RedisBroker",
    "RedisPresenceStore",
    "RedisUnavailableError",
    "decode_message",
    "encode_message",
]

#: How long a cache channel keeps its last event: Pusher's 30 minutes.
CACHE_TTL_SECONDS: Final = 30 * 60
#: Most publications written to Redis in one pipeline round trip.
_BATCH: Final = 256
#: Messages queued for the writer beyond which a publisher waits for its own send:
#: publishing returns at once below it, so Redis's speed bounds memory, not RTT the rate.
_QUEUE_LIMIT: Final = 4 * _BATCH
#: Seconds, on top of ``max_backoff`` (a peer's longest wait between reconnection
#: attempts), that a recovered node waits before it sends what it held during an
#: outage: by then every peer has re-subscribed (pub/sub reaches live subscribers only).
_SETTLE_MARGIN: Final = 0.25
_PING_MARK: Final = b"tidings-ping"
_log = structlog.get_logger(__name__)


# A queued send: Redis channel, payload, cache key (or None), and the future its
# publisher awaits (None when nobody waits: most publications, and those held
# during an outage).
_Item = tuple[bytes, bytes, bytes | None, asyncio.Future[None] | None]


class RedisBroker:
    """Fan-out between nodes over Redis pub/sub.

    Delivery: ``publish`` hands the publication to this node's handler at once
    (local subscribers never wait for Redis, and keep receiving while Redis is
    down), then queues it for Redis and returns: it does not wait for the
    round trip (unless the queue is long, ``_QUEUE_LIMIT``), except a ``cache``
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

    Args:
        url: ``redis://[user:password@]host:port/db`` or ``rediss://...`` (see
            :mod:`tidings.redis_url`).
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
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_backoff = max_backoff
        self._start_timeout = start_timeout
        self._buffer_bytes = buffer_bytes
        # No retries inside redis-py on the pub/sub connection, one immediate
        # retry for commands (it replaces a pooled connection Redis closed while
        # it idled): this class owns reconnection, so an outage is seen (and
        # logged) instead of being retried away silently.
        no_retry = Retry(NoBackoff(), 0)
        url, tls = connection_options(url)  # rediss:// CA and client-certificate files
        self._redis = Redis.from_url(
            url,
            **tls,
            retry=Retry(NoBackoff(), 1),
            socket_timeout=ping_timeout,
            socket_connect_timeout=ping_timeout,
        )
        # RESP2 on the pub/sub connection: subscribe confirmations and messages
        # arrive as plain replies (RESP3 routes them to a push handler instead).
        self._sub_pool: ConnectionPool = ConnectionPool.from_url(
            url, **tls, retry=no_retry, socket_connect_timeout=ping_timeout, protocol=2
        )
        self._handler: BrokerHandler | None = None
        self._control_name = f"{prefix}:control".encode()
        self._wanted: set[bytes] = {self._control_name}
        self._conn: AbstractConnection | None = None
        self._confirm: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._outbox: deque[_Item] = deque()
        self._outbox_ready = asyncio.Event()
        # Set while nothing is queued or in flight (``close`` waits for it).
        self._outbox_idle = asyncio.Event()
        self._outbox_idle.set()
        # Held during an outage, in order: (channel, payload, cache key).
        self._held: deque[tuple[bytes, bytes, bytes | None]] = deque()
        self._held_bytes = 0
        self._holding = False
        self._flushing: asyncio.Task[None] | None = None
        # A new base at every start: a restarted node's numbers are larger than
        # those of its previous run, so peers never take them for duplicates.
        self._seq = time.time_ns()
        self._last_seq: dict[str, int] = {}
        self._own_prefix = origin_prefix(node_id)
        self.dropped = 0  # client events, member changes and counts an outage cost
        self._tasks: list[asyncio.Task[None]] = []
        self._cmd_up = False
        self._sub_up = False
        self._healthy = False
        self._healthy_event = asyncio.Event()
        self._was_healthy = False
        self._closed = False
        #: Recoveries after an outage (metrics: ``tidings_broker_reconnects_total``).
        self.reconnects = 0
        #: Seconds the last monitor PING took, ``None`` before the first one.
        self.round_trip: float | None = None

    # -- the Broker protocol -------------------------------------------------

    async def start(self, handler: BrokerHandler) -> None:
        """Connect, start the reader, writer and monitor tasks, and wait for health.

        Returns after the first successful connection, or after
        ``start_timeout`` with ``healthy`` False (a warning is logged,
        reconnection continues in the background, and the first connection
        then counts as a recovery: ``broker_recovered`` runs).
        """
        if self._tasks:
            raise RuntimeError("RedisBroker.start() called twice; create a new broker instead")
        self._handler = handler
        self._closed = False
        await self._check_commands()
        self._tasks = [
            asyncio.create_task(self._run_subscriber(), name="redis-broker-reader"),
            asyncio.create_task(self._run_writer(), name="redis-broker-writer"),
            asyncio.create_task(self._run_monitor(), name="redis-broker-monitor"),
        ]
        try:
            await asyncio.wait_for(self._healthy_event.wait(), self._start_timeout)
        except TimeoutError:
            self._was_healthy = True  # so the first connection counts as a recovery
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
        if self._tasks and not self._down():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_idle.wait(), self._ping_timeout)
        if self._closed:
            return  # closed by a concurrent call meanwhile
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._release_waiters()
        self._handler = None
        self._healthy = self._cmd_up = self._sub_up = False
        await self._redis.aclose()
        await self._sub_pool.disconnect()

    async def subscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """Receive ``channel`` from every node; returns once Redis confirmed the SUBSCRIBE.

        While Redis is unreachable it returns at once: the channel is
        subscribed when the connection comes back.
        """
        name = self._channel(app_id, channel)
        self._wanted.add(name)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the reader subscribes every wanted channel when it connects
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(name, deque()).append(done)
        try:
            await conn.send_command("SUBSCRIBE", name, check_health=False)
            await asyncio.wait_for(done, self._ping_timeout)
        except (RedisError, OSError, TimeoutError):
            pass  # the reader sees the broken connection and re-subscribes everything

    async def unsubscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """Stop receiving ``channel``; unknown channels are ignored."""
        name = self._channel(app_id, channel)
        if name not in self._wanted:
            return
        self._wanted.discard(name)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return
        try:
            await conn.send_command("UNSUBSCRIBE", name, check_health=False)
        except (RedisError, OSError):
            pass  # a new connection subscribes only wanted channels anyway

    async def publish(self, message: Message) -> None:
        """Deliver to local subscribers now, then queue it for the other nodes.

        Returns once queued, without waiting for Redis (unless
        ``_QUEUE_LIMIT`` messages are queued already). A ``cache`` publication
        is also SET as the channel's last event (30 minutes TTL) in the same
        MULTI/EXEC as the PUBLISH, and returns only once Redis executed both.
        While Redis is unreachable it is held (see the class docstring).

        Raises:
            RuntimeError: when called before ``start`` or after ``close``.
            BrokerBufferFull: a publication (not a client's) that the outage
                buffer cannot take; it was delivered nowhere.
        """
        handler = self._started()
        name = self._channel(message.app_id, message.channel)
        payload = self._encode(message)
        # Only publications are held during an outage; member changes and counts
        # are re-announced by the node when Redis is back.
        keep, droppable, cache = False, True, False
        if type(message) is Publication:
            keep, droppable, cache = True, message.from_client, message.cache
        if not self._accepts(len(payload), must_keep=keep):
            if not droppable:
                raise self._full()  # before any delivery: a retry will not duplicate it
            self.dropped += 1
            keep = False
        if name in self._wanted:
            self._deliver(handler, message)
        cache_key = self._cache_key(message.app_id, message.channel) if cache else None
        # A cache publication waits until stored: a subscribe anywhere after this
        # returns finds it (the HTTP API answers after that).
        await self._send(name, payload, cache_key, hold=keep, wait=cache)

    async def publish_control(self, control: Control) -> None:
        """Carry out ``control`` here now, and on every other node through Redis."""
        handler = self._started()
        payload = self._encode(control)
        if not self._accepts(len(payload), must_keep=True):
            raise self._full()
        try:
            handler.handle_control(control)
        except Exception:
            _log.exception("broker control handler raised", command=control.command)
        await self._send(self._control_name, payload, None, hold=True, wait=True)

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

    def _down(self) -> bool:
        """Whether sends must be held (or dropped) instead of written now."""
        return self._holding or not self._cmd_up

    def _accepts(self, size: int, *, must_keep: bool) -> bool:
        """Whether a message of ``size`` bytes can be sent now or held."""
        if not self._down():
            return True
        return must_keep and self._held_bytes + size <= self._buffer_bytes

    def _full(self) -> BrokerBufferFull:
        return BrokerBufferFull(
            f"Redis is unreachable and this node already holds "
            f"{self._held_bytes} bytes of publications for the other nodes (the limit)",
            hint="retry after the Retry-After delay; raise broker_buffer_bytes for longer outages",
            retry_after=max(1, round(self._max_backoff + _SETTLE_MARGIN + 1)),
        )

    async def _send(
        self, name: bytes, payload: bytes, cache_key: bytes | None, *, hold: bool, wait: bool
    ) -> None:
        """Queue for the writer; during an outage hold it (or drop it).

        Returns at once unless ``wait`` is set or the queue holds ``_QUEUE_LIMIT``
        messages; then it returns once this one was sent (or held after a failure).
        """
        if self._down():
            if hold:
                self._hold(name, payload, cache_key)
            return
        outbox = self._outbox
        if not outbox:
            self._outbox_ready.set()
            self._outbox_idle.clear()
        if not wait and len(outbox) < _QUEUE_LIMIT:
            outbox.append((name, payload, cache_key, None))
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        outbox.append((name, payload, cache_key, sent))
        await sent

    def _hold(self, name: bytes, payload: bytes, cache_key: bytes | None) -> None:
        self._held.append((name, payload, cache_key))
        self._held_bytes += len(payload)

    def _start_holding(self, failed: list[_Item]) -> None:
        """Redis is gone: hold the failed batch and what was queued behind it, in order.

        They are older than anything held meanwhile (sends made while holding
        are held at once), so they go in front. Publications and controls are
        kept; anything else is dropped, as during an outage.
        """
        self._holding = True
        self._cancel_flush()
        items = failed + list(self._outbox)
        self._outbox.clear()
        for name, payload, key, sent in reversed(items):
            if name == self._control_name or is_publication(payload):
                self._held.appendleft((name, payload, key))
                self._held_bytes += len(payload)
            else:
                self.dropped += 1
            if sent is not None and not sent.done():
                sent.set_result(None)

    def _cancel_flush(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None

    async def _flush_held(self) -> None:
        """Once peers had time to re-subscribe, send what was held, then resume."""
        await asyncio.sleep(self._max_backoff + _SETTLE_MARGIN)
        held, self._held = self._held, deque()
        count, self._held_bytes = len(held), 0
        self._outbox.extendleft((name, payload, key, None) for name, payload, key in reversed(held))
        self._holding = False
        self._flushing = None
        self._outbox_ready.set()
        if self._outbox:
            self._outbox_idle.clear()
        if count:
            _log.info("sending publications held during the outage", count=count)

    async def last_event(self, app_id: AppId, channel: ChannelName) -> Publication | None:
        """The last event of a cache channel, or ``None`` (also while Redis is unreachable)."""
        try:
            raw: bytes | str | None = await self._redis.get(self._cache_key(app_id, channel))
        except (RedisError, OSError) as exc:
            self._set_cmd_up(False, exc)
            return None
        if raw is None:
            return None
        try:
            message = decode_message(raw.encode() if isinstance(raw, str) else raw)[2]
        except ValueError:
            return None
        return message if type(message) is Publication else None

    @property
    def healthy(self) -> bool:
        """True while both Redis connections answer; False during an outage."""
        return self._healthy

    # -- extras --------------------------------------------------------------

    @property
    def subscribed_channels(self) -> int:
        """How many Redis channels of tidings channels this node receives (controls aside)."""
        return len(self._wanted) - 1

    # -- internals -----------------------------------------------------------

    def _channel(self, app_id: str, channel: str) -> bytes:
        return f"{self.prefix}:pub:{app_id}:{channel}".encode()

    def _cache_key(self, app_id: str, channel: str) -> bytes:
        return f"{self.prefix}:cache:{app_id}:{channel}".encode()

    def _deliver(self, handler: BrokerHandler, message: Message | Control) -> None:
        try:
            if isinstance(message, Control):
                handler.handle_control(message)
            else:
                handler.handle_message(message)
        except Exception:
            _log.exception("broker handler raised", message=type(message).__name__)

    async def _run_subscriber(self) -> None:
        """Own the pub/sub connection: connect, re-subscribe, read; reconnect on failure."""
        delay = 0.05
        # Not ``while True``: redis-py reads under a timeout context, and a cancel
        # that races that timeout can surface here as TimeoutError; the closed flag
        # (set before close() cancels) ends the loop whatever the exception was.
        while not self._closed:
            # A fresh connection each time, never handed back to a pool: nothing
            # else may reconnect it behind this loop's back.
            conn = self._sub_pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()
                await self._read(conn)
            except (RedisError, OSError, TimeoutError) as exc:
                if self._sub_up:
                    delay = 0.05  # it was up: start the backoff afresh
                # Same server: health needs a fresh command PING too, else a
                # stale command connection could flap health right after.
                self._cmd_up = False
                self._set_sub_up(False, exc)
            finally:
                self._conn = None
                self._release_waiters()
                await conn.disconnect(nowait=True)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_backoff)

    async def _read(self, conn: AbstractConnection) -> None:
        """Subscribe every wanted channel on ``conn``, then dispatch until it fails."""
        loop = asyncio.get_running_loop()
        names = list(self._wanted)
        self._conn = conn  # from here on subscribe() sends on conn itself
        if names:
            await conn.send_command("SUBSCRIBE", *names, check_health=False)
        # Redis answers in order: this PONG means every SUBSCRIBE above is active.
        await conn.send_command("PING", _PING_MARK, check_health=False)
        ping_sent: float | None = loop.time()
        while True:
            reply = await conn.read_response(timeout=self._ping_interval, disconnect_on_error=False)
            now = loop.time()
            if reply is None:  # idle for ping_interval
                if ping_sent is None:
                    await conn.send_command("PING", _PING_MARK, check_health=False)
                    ping_sent = now
                elif now - ping_sent > self._ping_timeout:
                    raise TimeoutError(f"Redis did not answer PING within {self._ping_timeout}s")
                continue
            ping_sent = None  # any reply proves the connection alive
            if not isinstance(reply, list):  # PING outside subscribed mode
                self._set_sub_up(True)
                continue
            kind = reply[0]
            if kind == b"message":
                self._on_message(reply[1], reply[2])
            elif kind == b"subscribe":
                waiters = self._confirm.get(reply[1])
                if waiters:
                    done = waiters.popleft()
                    if not waiters:
                        del self._confirm[reply[1]]
                    if not done.done():
                        done.set_result(None)
            elif kind == b"pong":
                self._set_sub_up(True)

    def _on_message(self, name: bytes, raw: bytes) -> None:
        handler = self._handler
        if handler is None or name not in self._wanted:
            return  # a message in flight when the channel was unsubscribed
        if raw.startswith(self._own_prefix):
            return  # this node delivered its own at publish time: not even decoded
        try:
            origin, seq, message = decode_message(raw)
        except ValueError as exc:
            _log.warning("ignored a malformed message", channel=name.decode(), reason=str(exc))
            return
        if origin == self.node_id:
            return  # an echo encoded otherwise than by this codec (its prefix differs)
        last = self._last_seq.get(origin)
        if last is not None and seq <= last:
            return  # sent again after a failure that Redis had executed after all
        self._last_seq[origin] = seq
        self._deliver(handler, message)

    def _release_waiters(self) -> None:
        """Let every pending ``subscribe`` return: its connection is gone."""
        waiters, self._confirm = self._confirm, {}
        for queue in waiters.values():
            for done in queue:
                if not done.done():
                    done.set_result(None)
        if self._closed:
            while self._outbox:
                sent = self._outbox.popleft()[3]
                if sent is not None and not sent.done():
                    sent.set_result(None)

    async def _run_writer(self) -> None:
        """Send queued publications in call order, up to ``_BATCH`` per round trip."""
        while not self._closed:  # see _run_subscriber: a cancel may surface as a timeout
            if not self._outbox:
                self._outbox_idle.set()
                await self._outbox_ready.wait()
            self._outbox_ready.clear()
            # One iteration later: every publish of the iteration that woke the writer
            # is queued by now and goes in this pipeline.
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(_BATCH, len(self._outbox)))]
                atomic = any(cache_key is not None for _, _, cache_key, _ in batch)
                try:
                    async with self._redis.pipeline(transaction=atomic) as pipe:
                        for name, payload, cache_key, _ in batch:
                            if cache_key is not None:
                                pipe.set(cache_key, payload, ex=CACHE_TTL_SECONDS)
                            pipe.publish(name, payload)
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    self._start_holding(batch)
                    self._set_cmd_up(False, exc)
                    break
                for *_, sent in batch:
                    if sent is not None and not sent.done():
                        sent.set_result(None)

    async def _run_monitor(self) -> None:
        """PING the command connection every ``ping_interval``."""
        while not self._closed:  # see _run_subscriber
            await asyncio.sleep(self._ping_interval)
            await self._check_commands()

    async def _check_commands(self) -> None:
        started = time.perf_counter()
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self._set_cmd_up(False, exc)
        else:
            self.round_trip = time.perf_counter() - started
            self._set_cmd_up(True)

    def _set_cmd_up(self, up: bool, reason: BaseException | None = None) -> None:
        self._cmd_up = up
        self._update_health(reason)

    def _set_sub_up(self, up: bool, reason: BaseException | None = None) -> None:
        self._sub_up = up
        self._update_health(reason)

    def _update_health(self, reason: BaseException | None) -> None:
        """Log a transition once and tell the handler after an outage."""
        if self._closed:
            return  # close() is not an outage
        healthy = self._cmd_up and self._sub_up
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if not healthy:
            if not self._holding:
                _log.info("holding publications until redis is back", node_id=self.node_id)
            self._holding = True
            self._cancel_flush()
            self._healthy_event.clear()
            _log.warning(
                "redis unreachable; serving local subscribers only",
                node_id=self.node_id,
                reason=f"{type(reason).__name__}: {reason}" if reason else "unknown",
            )
            return
        self._healthy_event.set()
        if self._holding and self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_held(), name="redis-broker-flush")
            self._tasks.append(self._flushing)
            self._flushing.add_done_callback(self._forget_task)
        if not self._was_healthy:
            self._was_healthy = True
            return  # the first connection: nothing to recover
        self.reconnects += 1
        _log.info("redis reachable again; resubscribed", node_id=self.node_id)
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
