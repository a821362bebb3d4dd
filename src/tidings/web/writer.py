"""Coalesced, bounded per-connection writes.

Every connection owns an ``Outbox``. ``push()`` only appends a frame to a list;
the first push after a flush registers the outbox with the ``Flusher``, which
from the next iteration on does ONE ``transport.write`` per outbox with data.
A fan-out to N subscribers therefore costs N list appends now and N syscalls
once, however many publications arrived in between.

An outbox that collects ``FLUSH_AT_BYTES`` before its turn writes at once, so
pending frames stay bounded when publications outrun the slices.

A connection whose transport buffer passes ``high_water`` bytes after a flush
is a slow consumer: its ``on_slow`` callback runs once (the shell sends
``pusher:error`` 4100 and closes it) and further pushes are dropped, so no
other connection ever waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final, cast

__all__ = ["FLUSH_AT_BYTES", "Flusher", "Outbox"]

#: Pending bytes at which an outbox writes without waiting for its slice.
FLUSH_AT_BYTES: Final = 64 * 1024


class Flusher:
    """Flushes every outbox with pending frames, at most ``batch`` per event-loop iteration.

    Flushing in slices lets the loop read new publications between slices. Under
    load, the outboxes not yet reached collect more frames meanwhile, so each
    ``transport.write`` carries more of them: coalescing grows with load by itself,
    and an idle server still flushes on the very next iteration.

    Args:
        loop: the running loop.
        batch: outboxes flushed per iteration (each flush is about one syscall).
    """

    __slots__ = ("_batch", "_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, batch: int = 32) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch!r}")
        self._loop = loop
        self._batch = batch
        self._dirty: deque[Outbox] = deque()
        self._scheduled = False

    def mark(self, outbox: Outbox) -> None:
        """Queue ``outbox`` (on its first pending frame); first marked, first flushed."""
        self._dirty.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        dirty = self._dirty
        popleft = dirty.popleft
        for _ in range(min(self._batch, len(dirty))):
            popleft().flush()
        if dirty:
            self._loop.call_soon(self._flush)
        else:
            self._scheduled = False


class Outbox:
    """The pending frames of one connection.

    Args:
        transport: the connection's transport (plain TCP or TLS).
        flusher: the loop-wide flusher.
        high_water: transport buffer size, in bytes, that marks a slow consumer.
        on_slow: called once when the mark is passed; must not raise.
    """

    __slots__ = (
        "_flusher",
        "_high_water",
        "_on_slow",
        "_pending",
        "_pending_bytes",
        "_transport",
        "closed",
    )

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        flusher: Flusher,
        *,
        high_water: int,
        on_slow: Callable[[], None],
    ) -> None:
        # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
        self._transport = cast(asyncio.WriteTransport, transport)
        self._flusher = flusher
        self._high_water = high_water
        self._on_slow = on_slow
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.closed = False

    def push(self, frame: bytes) -> None:
        """Queue ``frame``; dropped once the outbox is closed.

        An outbox holding ``FLUSH_AT_BYTES`` or more is written at once: when
        publications arrive faster than the flusher's slices reach every
        connection, pending frames stay bounded instead of piling up.
        """
        if self.closed:
            return
        if not self._pending:
            self._flusher.mark(self)
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        if self._pending_bytes >= FLUSH_AT_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write everything pending in one call, then check the slow-consumer mark."""
        pending = self._pending
        if not pending or self.closed:
            return
        self._pending = []
        self._pending_bytes = 0
        transport = self._transport
        if transport.is_closing():
            self.closed = True
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self._high_water:
            self.closed = True
            self._on_slow()

    def write_now(self, frame: bytes) -> None:
        """Flush what is pending, then write ``frame`` at once, even after ``closed``.

        Used for the last frames of a connection (an error before a close).
        """
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        transport = self._transport
        if not transport.is_closing():
            transport.write(b"".join(pending) + frame)
