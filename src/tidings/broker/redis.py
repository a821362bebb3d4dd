"""Cluster mode: the Redis broker and presence store (the ``tidings[redis]`` extra).

Many tidings nodes share one Redis. ``RedisBroker`` fans publications out over
Redis pub/sub, one Redis channel per tidings channel, subscribed only by the
nodes that have local subscribers for it. ``RedisPresenceStore`` keeps presence
members in Redis hashes tagged with the node that holds each connection, plus a
heartbeat key per node so survivors can remove a dead node's members.
docs/cluster.md describes the keys, the failure behaviour and what a client
may miss while Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import orjson
import structlog
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tidings.broker.base import Broker, BrokerHandler, NodeLiveness, PresenceStore
from tidings.broker.redis_presence import RedisPresenceStore, RedisUnavailableError
from tidings.domain.messages import (
    Control,
    MemberJoined,
    MemberLeft,
    Message,
    Publication,
    SubscriptionCount,
    WatchlistEvent,
)
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
#: Version tag of the payload format (first item of the JSON array).
_FORMAT: Final = 2
_PING_MARK: Final = b"tidings-ping"
_log = structlog.get_logger(__name__)


_PUBLICATION, _JOINED, _LEFT, _COUNT, _CONTROL = "p", "j", "l", "n", "c"
_WATCHLIST = "w"


def encode_message(message: Message | Control, origin: str) -> bytes:
    """The Redis payload of ``message``: a compact JSON array tagged with the publishing node.

    ``MemberJoined.members`` / ``MemberLeft.members`` are a node's local view
    and are not sent.
    """
    items: list[Any]
    match message:
        case Publication():
            m = message
            items = [_PUBLICATION, m.app_id, m.channel, m.event, m.data, m.socket_id, m.user_id]
            items += [m.meta, m.from_client, m.cache]
        case MemberJoined():
            items = [_JOINED, message.app_id, message.channel, message.user_id, message.info]
            items.append(message.socket_id)
        case MemberLeft():
            items = [_LEFT, message.app_id, message.channel, message.user_id, message.socket_id]
        case SubscriptionCount():
            items = [_COUNT, message.app_id, message.channel, message.count]
        case WatchlistEvent():
            items = [_WATCHLIST, message.app_id, message.channel, message.name]
            items += [list(message.user_ids), message.socket_id]
        case Control():
            items = [_CONTROL, message.command, dict(message.args)]
    return orjson.dumps([_FORMAT, origin, *items])


def decode_message(raw: bytes) -> tuple[str, Message | Control]:
    """The origin node id and the message in ``raw`` (from ``encode_message``).

    Raises:
        ValueError: ``raw`` is not a payload of this format version.
    """
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(items, list) or len(items) < 3 or items[0] != _FORMAT:
        raise ValueError(f"not a tidings message (format {_FORMAT}): {raw[:80]!r}")
    origin, kind, *fields = items[1:]
    try:
        return str(origin), _MESSAGE_DECODERS[kind](*fields)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a tidings message ({exc}): {raw[:80]!r}") from None


_MESSAGE_DECODERS: Final[dict[str, Callable[..., Message | Control]]] = {
    _PUBLICATION: Publication,
    _JOINED: MemberJoined,
    _LEFT: MemberLeft,
    _COUNT: SubscriptionCount,
    _CONTROL: Control,
    _WATCHLIST: lambda app_id, channel, name, user_ids, socket_id: WatchlistEvent(
        app_id, channel, name, tuple(user_ids), socket_id
    ),
}


class RedisBroker:
    """Fan-out between nodes over Redis pub/sub.

    Delivery: ``publish`` hands the publication to this node's handler at once
    (local subscribers never wait for Redis, and keep receiving while Redis is
    down), then PUBLISHes it; the reader skips the echo of its own node. One
    writer task sends publications in call order over one pipeline at a time,
    so every node sees one node's publications on a channel in publish order.

    Subscriptions: one dedicated pub/sub connection, with a plain ``SUBSCRIBE``
    per channel that has local subscribers. ``subscribe`` returns once Redis
    confirmed it (while Redis is reachable), so a publish that follows is seen.

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
    """

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        prefix: str = "tidings",
        ping_interval: float = 1.0,
        ping_timeout: float = 3.0,
        max_backoff: float = 5.0,
        start_timeout: float = 5.0,
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
        self._outbox: deque[tuple[bytes, bytes, bytes | None, asyncio.Future[None]]] = deque()
        self._outbox_ready = asyncio.Event()
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
        """Cancel the tasks and close both connections. Idempotent."""
        if self._closed:
            return
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
        """Deliver to local subscribers now, then to the other nodes through Redis.

        A ``cache`` publication is also SET as the channel's last event (30
        minutes TTL) in the same MULTI/EXEC as the PUBLISH. While Redis is
        unreachable only local subscribers receive it (nothing is raised;
        ``healthy`` is False).

        Raises:
            RuntimeError: when called before ``start`` or after ``close``.
        """
        handler = self._started()
        name = self._channel(message.app_id, message.channel)
        if name in self._wanted:
            self._deliver(handler, message)
        cache = type(message) is Publication and message.cache
        cache_key = self._cache_key(message.app_id, message.channel) if cache else None
        await self._send(name, encode_message(message, self.node_id), cache_key)

    async def publish_control(self, control: Control) -> None:
        """Carry out ``control`` here now, and on every other node through Redis."""
        handler = self._started()
        try:
            handler.handle_control(control)
        except Exception:
            _log.exception("broker control handler raised", command=control.command)
        await self._send(self._control_name, encode_message(control, self.node_id), None)

    def _started(self) -> BrokerHandler:
        handler = self._handler
        if handler is None:
            raise RuntimeError(
                "RedisBroker.publish() called before start() or after close(); "
                "call `await broker.start(handler)` first"
            )
        return handler

    async def _send(self, name: bytes, payload: bytes, cache_key: bytes | None) -> None:
        if not self._cmd_up:
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append((name, payload, cache_key, sent))
        self._outbox_ready.set()
        await sent

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
            message = decode_message(raw.encode() if isinstance(raw, str) else raw)[1]
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
        try:
            origin, message = decode_message(raw)
        except ValueError as exc:
            _log.warning("ignored a malformed message", channel=name.decode(), reason=str(exc))
            return
        if origin != self.node_id:  # this node delivered its own at publish time
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
                if not sent.done():
                    sent.set_result(None)

    async def _run_writer(self) -> None:
        """Send queued publications in call order, up to ``_BATCH`` per round trip."""
        while not self._closed:  # see _run_subscriber: a cancel may surface as a timeout
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
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
                    self._set_cmd_up(False, exc)
                finally:
                    for *_, sent in batch:
                        if not sent.done():
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
            self._healthy_event.clear()
            _log.warning(
                "redis unreachable; serving local subscribers only",
                node_id=self.node_id,
                reason=f"{type(reason).__name__}: {reason}" if reason else "unknown",
            )
            return
        self._healthy_event.set()
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
