"""The Redis broker's receive side for one Redis server: the pub/sub connection and its reader.

``RedisSubscriber`` owns one dedicated pub/sub connection with a plain
``SUBSCRIBE`` per wanted channel, reads what arrives, drops the echo of its own
node (by the payload's prefix, undecoded) and what it already had (per-origin
sequence numbers), and hands the rest to its owner. It reconnects with
jittered exponential backoff and re-subscribes every wanted channel.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tidings.broker.redis_codec import decode_message, origin_prefix
from tidings.broker.redis_history import KEPT_MARK, decode_kept
from tidings.domain.messages import Control, Message

__all__ = ["RedisSubscriber", "pubsub_client_name", "pubsub_pool"]

_PING_MARK: Final = b"tidings-ping"
_log = structlog.get_logger(__name__)


def pubsub_client_name(node_id: str) -> str:
    """The ``CLIENT SETNAME`` of a node's pub/sub connection: ``tidings-pubsub-<node id>``.

    Characters Redis refuses in a name (spaces, newlines) become ``_``.
    """
    safe = "".join(c if c.isascii() and c.isprintable() and c != " " else "_" for c in node_id)
    return f"tidings-pubsub-{safe}"


def pubsub_pool(
    url: str, tls: Mapping[str, Any], *, node_id: str, connect_timeout: float
) -> ConnectionPool:
    """Where a :class:`RedisSubscriber` makes its connections to the server at ``url``
    (``tls``: the CA and client-certificate options of a ``rediss://`` URL).

    No retries (the reader reconnects itself, with its own backoff), RESP2 (subscribe
    confirmations and messages arrive as plain replies; RESP3 would route them to a push
    handler), and named (:func:`pubsub_client_name`), so an operator finds a node's
    pub/sub connections in CLIENT LIST.
    """
    pool: ConnectionPool = ConnectionPool.from_url(
        url,
        **tls,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=connect_timeout,
        protocol=2,
        client_name=pubsub_client_name(node_id),
    )
    return pool


class RedisSubscriber:
    """One pub/sub connection to one Redis server, kept subscribed to ``wanted``.

    ``subscribe`` returns once the server confirmed it (while it is reachable),
    so a publish that follows is seen. A connection that does not answer PING
    within ``ping_timeout`` counts as lost: ``on_up(False, reason)``; the first
    reply on a new connection gives ``on_up(True, None)``.

    Sequence numbers are compared per origin node on this connection: one
    node's messages through one server arrive in the order it sent them,
    whatever it sends through other servers meanwhile.

    Args:
        pool: makes the pub/sub connections (RESP2, no retries of its own).
        node_id: this node's id (its own echo is skipped).
        deliver: called with every message of another node, in arrival order.
        on_up: called on every connection state change (with the reason when lost).
        ping_interval: seconds between PINGs on an idle connection.
        ping_timeout: seconds without a PING answer before the connection counts as lost.
        max_backoff: longest wait, in seconds, between reconnection attempts.
        sharded: ``SSUBSCRIBE`` instead of ``SUBSCRIBE`` (one master of a Redis Cluster).
        on_moved: called with a wanted channel the server unsubscribed by itself (its
            slot moved to another master).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        node_id: str,
        deliver: Callable[[Message | Control], None],
        on_up: Callable[[bool, BaseException | None], None],
        ping_interval: float,
        ping_timeout: float,
        max_backoff: float,
        sharded: bool = False,
        on_moved: Callable[[bytes], None] | None = None,
    ) -> None:
        self.pool = pool
        self._on_moved = on_moved
        prefix = "S" if sharded else ""
        self._subscribe_cmd, self._unsubscribe_cmd = f"{prefix}SUBSCRIBE", f"{prefix}UNSUBSCRIBE"
        self._message = b"smessage" if sharded else b"message"
        self._subscribed = b"ssubscribe" if sharded else b"subscribe"
        self._unsubscribed = b"sunsubscribe" if sharded else b"unsubscribe"
        self.node_id = node_id
        self._deliver = deliver
        self._on_up = on_up
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_backoff = max_backoff
        #: The Redis channels this node receives.
        self.wanted: set[bytes] = set()
        #: Whether the connection answered since it was (re)made.
        self.up = False
        #: Set while ``up``: every wanted channel is subscribed on the connection.
        self.ready = asyncio.Event()
        self.closed = False
        self._conn: AbstractConnection | None = None
        self._confirm: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._last_seq: dict[str, int] = {}
        self._own_prefix = origin_prefix(node_id)

    async def subscribe(self, name: bytes) -> None:
        """Receive ``name``; returns once the server confirmed, or at once while it is down."""
        self.wanted.add(name)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # run() subscribes every wanted channel when it connects
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(name, deque()).append(done)
        try:
            await conn.send_command(self._subscribe_cmd, name, check_health=False)
            await asyncio.wait_for(done, self._ping_timeout)
        except (RedisError, OSError, TimeoutError):
            pass  # run() sees the broken connection and re-subscribes everything

    async def unsubscribe(self, name: bytes) -> None:
        """Stop receiving ``name``; unknown names are ignored."""
        if name not in self.wanted:
            return
        self.wanted.discard(name)
        conn = self._conn
        if conn is None or not conn.is_connected:
            return
        try:
            await conn.send_command(self._unsubscribe_cmd, name, check_health=False)
        except (RedisError, OSError):
            pass  # a new connection subscribes only wanted channels anyway

    async def run(self) -> None:
        """Own the pub/sub connection: connect, re-subscribe, read; reconnect on failure."""
        delay = 0.05
        # Not ``while True``: redis-py reads under a timeout context, and a cancel
        # that races that timeout can surface here as TimeoutError; the closed flag
        # (set before the owner cancels) ends the loop whatever the exception was.
        while not self.closed:
            # A fresh connection each time, never handed back to a pool: nothing
            # else may reconnect it behind this loop's back.
            conn = self.pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()
                await self._read(conn)
            except (RedisError, OSError, TimeoutError) as exc:
                if self.up:
                    delay = 0.05  # it was up: start the backoff afresh
                self.up = False
                self.ready.clear()
                self._on_up(False, exc)
            finally:
                self._conn = None
                self.release_waiters()
                await conn.disconnect(nowait=True)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_backoff)

    def release_waiters(self) -> None:
        """Let every pending ``subscribe`` return: its connection is gone."""
        waiters, self._confirm = self._confirm, {}
        for queue in waiters.values():
            for done in queue:
                if not done.done():
                    done.set_result(None)

    async def _read(self, conn: AbstractConnection) -> None:
        """Subscribe every wanted channel on ``conn``, then dispatch until it fails."""
        loop = asyncio.get_running_loop()
        names = list(self.wanted)
        self._conn = conn  # from here on subscribe() sends on conn itself
        if names and self._subscribe_cmd == "SSUBSCRIBE":
            for name in names:  # one slot per SSUBSCRIBE: the channels' slots differ
                await conn.send_command("SSUBSCRIBE", name, check_health=False)
        elif names:
            await conn.send_command(self._subscribe_cmd, *names, check_health=False)
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
                self._set_up()
                continue
            kind = reply[0]
            if kind == self._message:
                self._on_message(reply[1], reply[2])
            elif kind == self._subscribed:
                self._confirmed(reply[1])
            elif kind == b"pong":
                self._set_up()
            elif kind == self._unsubscribed and reply[1] in self.wanted and self._on_moved:
                self._on_moved(reply[1])  # not ours: the server moved the channel's slot

    def _set_up(self) -> None:
        self.up = True
        self.ready.set()
        self._on_up(True, None)

    def _confirmed(self, name: bytes) -> None:
        waiters = self._confirm.get(name)
        if waiters:
            done = waiters.popleft()
            if not waiters:
                del self._confirm[name]
            if not done.done():
                done.set_result(None)

    def _on_message(self, name: bytes, raw: bytes) -> None:
        if name not in self.wanted:
            return  # a message in flight when the channel was unsubscribed
        if raw[:1] == KEPT_MARK:
            # A kept publication, this node's own included (it was not delivered at
            # publish time): the node orders them by serial; the script already
            # refused one sent twice.
            try:
                pub = decode_kept(raw)[2]
            except ValueError as exc:
                _log.warning("ignored a malformed message", channel=name.decode(), reason=str(exc))
                return
            self._deliver(pub)
            return
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
        self._deliver(message)
