"""The Redis broker's send side for one Redis server: queue, pipelined writer, outage buffer.

``RedisOutbox`` takes encoded payloads in call order and one writer task sends
them, whatever queued up during one event-loop iteration in one pipeline (at
most ``BATCH`` per round trip), so every node sees one node's publications on a
channel in publish order. While the server is unreachable (or after a batch
failed) publications and controls are held in order, up to a byte bound, and
sent once the server is back and every peer had time to re-subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import structlog
from redis.exceptions import RedisError

from tidings.broker.redis_codec import is_publication
from tidings.broker.redis_history import KeptSend
from tidings.broker.redis_liveness import RedisClient
from tidings.errors import BrokerBufferFull

__all__ = ["BATCH", "CACHE_TTL_SECONDS", "QUEUE_LIMIT", "SETTLE_MARGIN", "RedisOutbox"]

#: How long a cache channel keeps its last event: Pusher's 30 minutes.
CACHE_TTL_SECONDS: Final = 30 * 60
#: Most publications written to Redis in one pipeline round trip.
BATCH: Final = 256
#: Messages queued for the writer beyond which a publisher waits for its own send:
#: publishing returns at once below it, so Redis's speed bounds memory, not RTT the rate.
QUEUE_LIMIT: Final = 4 * BATCH
#: Seconds, on top of ``max_backoff`` (a peer's longest wait between reconnection
#: attempts), that a recovered node waits before it sends what it held during an
#: outage: by then every peer has re-subscribed (pub/sub reaches live subscribers only).
SETTLE_MARGIN: Final = 0.25
_log = structlog.get_logger(__name__)
# On a Redis Cluster a pipeline spans nodes (no MULTI): a cache publication's SET
# and SPUBLISH are one script instead, atomic in the channel's slot.
_CACHE_SPUBLISH: Final = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return redis.call('SPUBLISH', KEYS[2], ARGV[1])
"""

# A queued send: Redis channel, payload, cache key (or None, or the history
# script's call for a kept publication: the script publishes it), and the future
# its publisher awaits (None when nobody waits: most publications, and those held
# during an outage).
_Extra = bytes | KeptSend | None
_Item = tuple[bytes, bytes, _Extra, asyncio.Future[None] | None]


class RedisOutbox:
    """Publications and controls on their way to one Redis server, in call order.

    The owner (a ``RedisLink``) tells it whether the server's command
    connection is up (``commands_up``) and when health is lost (``hold``) or
    back (``resume``); the outbox reports a failed batch through
    ``on_failure``. It never reconnects by itself.

    Args:
        redis: the server's command client.
        control_name: the control channel's name (controls are held like publications).
        buffer_bytes: most payload bytes held during an outage.
        max_backoff: a peer's longest wait between reconnection attempts.
        on_failure: called with the exception when a batch could not be sent.
        label: names the server in errors and logs (empty with one server).
        sharded_pubsub: publish with ``SPUBLISH`` (a Redis Cluster's sharded pub/sub).
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        control_name: bytes,
        buffer_bytes: int,
        max_backoff: float,
        on_failure: Callable[[BaseException], None],
        label: str = "",
        sharded_pubsub: bool = False,
    ) -> None:
        self.redis = redis
        self._sharded = sharded_pubsub
        self._control_name = control_name
        self._buffer_bytes = buffer_bytes
        self._max_backoff = max_backoff
        self._on_failure = on_failure
        self._label = label
        self._queue: deque[_Item] = deque()
        self._ready = asyncio.Event()
        # Set while nothing is queued or in flight (``close`` waits for it).
        self._idle = asyncio.Event()
        self._idle.set()
        # Held during an outage, in order: (channel, payload, cache key).
        self._held: deque[tuple[bytes, bytes, _Extra]] = deque()
        self._held_bytes = 0
        self._holding = False
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False
        #: Whether the server's command connection answered its last PING.
        self.commands_up = False
        #: Client events, member changes and counts an outage cost.
        self.dropped = 0

    # -- what publishers ask ------------------------------------------------

    def down(self) -> bool:
        """Whether sends must be held (or dropped) instead of written now."""
        return self._holding or not self.commands_up

    def accepts(self, size: int, *, must_keep: bool) -> bool:
        """Whether a message of ``size`` bytes can be sent now or held."""
        if not self.down():
            return True
        return must_keep and self._held_bytes + size <= self._buffer_bytes

    def full(self) -> BrokerBufferFull:
        """The error for a publication the outage buffer cannot take."""
        server = f"Redis shard {self._label}" if self._label else "Redis"
        return BrokerBufferFull(
            f"{server} is unreachable and this node already holds "
            f"{self._held_bytes} bytes of publications for the other nodes (the limit)",
            hint="retry after the Retry-After delay; raise broker_buffer_bytes for longer outages"
            + (f"; check that shard {self._label} is running" if self._label else ""),
            retry_after=max(1, round(self._max_backoff + SETTLE_MARGIN + 1)),
        )

    async def send(
        self, name: bytes, payload: bytes, cache_key: _Extra, *, hold: bool, wait: bool
    ) -> None:
        """Queue for the writer; during an outage hold it (or drop it).

        Returns at once unless ``wait`` is set or the queue holds ``QUEUE_LIMIT``
        messages; then it returns once this one was sent (or held after a failure).
        """
        if self.down():
            if hold:
                self._held.append((name, payload, cache_key))
                self._held_bytes += len(payload)
            return
        queue = self._queue
        if not queue:
            self._ready.set()
            self._idle.clear()
        if not wait and len(queue) < QUEUE_LIMIT:
            queue.append((name, payload, cache_key, None))
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append((name, payload, cache_key, sent))
        await sent

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until everything queued was sent."""
        if not self.down():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)

    # -- what the link tells it ---------------------------------------------

    def hold(self) -> bool:
        """Health was lost: hold every send until ``resume``; ``True`` if it was not holding."""
        started = not self._holding
        self._holding = True
        self._cancel_flush()
        return started

    def resume(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Health is back: send what was held once peers re-subscribed (a task put in ``tasks``)."""
        if not self._holding or self._flushing is not None:
            return
        flushing = asyncio.create_task(self._flush_held(), name="redis-broker-flush")
        self._flushing = flushing
        tasks.append(flushing)

        def forget(task: asyncio.Task[Any]) -> None:
            if task in tasks:
                tasks.remove(task)

        flushing.add_done_callback(forget)

    def close(self) -> None:
        """Stop: release every publisher still waiting for its send."""
        self._closed = True
        while self._queue:
            sent = self._queue.popleft()[3]
            if sent is not None and not sent.done():
                sent.set_result(None)

    # -- the writer -----------------------------------------------------------

    async def run_writer(self) -> None:
        """Send queued publications in call order, up to ``BATCH`` per round trip."""
        while not self._closed:  # a cancel may surface as a timeout: see RedisSubscriber.run
            if not self._queue:
                self._idle.set()
                await self._ready.wait()
            self._ready.clear()
            # One iteration later: every publish of the iteration that woke the writer
            # is queued by now and goes in this pipeline.
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                sharded = self._sharded
                atomic = not sharded and any(type(key) is bytes for _, _, key, _ in batch)
                kept = [extra for _, _, extra, _ in batch if isinstance(extra, KeptSend)]
                try:
                    if kept:
                        await kept[0].history.ensure_loaded()
                    async with self.redis.pipeline(transaction=atomic) as pipe:
                        for name, payload, cache_key, _ in batch:
                            if isinstance(cache_key, KeptSend):
                                cache_key.add_to(pipe)  # the script stores and publishes it
                            elif sharded and cache_key is not None:
                                keys = (cache_key, name)
                                pipe.eval(_CACHE_SPUBLISH, 2, *keys, payload, CACHE_TTL_SECONDS)
                            elif sharded:
                                pipe.spublish(name, payload)
                            else:
                                if cache_key is not None:
                                    pipe.set(cache_key, payload, ex=CACHE_TTL_SECONDS)
                                pipe.publish(name, payload)
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    for send in kept:
                        send.history.loaded = False  # a restarted Redis has lost the script
                    self._start_holding(batch)
                    self._on_failure(exc)
                    break
                for *_, sent in batch:
                    if sent is not None and not sent.done():
                        sent.set_result(None)

    def _start_holding(self, failed: list[_Item]) -> None:
        """The server is gone: hold the failed batch and what was queued behind it, in order.

        They are older than anything held meanwhile (sends made while holding
        are held at once), so they go in front. Publications and controls are
        kept; anything else is dropped, as during an outage.
        """
        self._holding = True
        self._cancel_flush()
        items = failed + list(self._queue)
        self._queue.clear()
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
        await asyncio.sleep(self._max_backoff + SETTLE_MARGIN)
        held, self._held = self._held, deque()
        count, self._held_bytes = len(held), 0
        self._queue.extendleft((name, payload, key, None) for name, payload, key in reversed(held))
        self._holding = False
        self._flushing = None
        self._ready.set()
        if self._queue:
            self._idle.clear()
        if count:
            _log.info("sending publications held during the outage", count=count, shard=self._label)
