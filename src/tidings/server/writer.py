"""Coalesced, bounded per-connection writes.

Every connection owns an ``Outbox``. ``push()`` only appends a frame to a list;
the first push of a loop iteration registers the outbox with the ``Flusher``,
which on the next iteration does ONE ``transport.write`` per outbox with data.
A fan-out to N subscribers therefore costs N list appends now and N syscalls
once, however many publications arrived in between.

A connection whose transport buffer passes ``high_water`` bytes after a flush
is a slow consumer: its ``on_slow`` callback runs once (the shell sends
``pusher:error`` 4100 and closes it) and further pushes are dropped, so no
other connection ever waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Flusher", "Outbox"]


class Flusher:
    """Flushes every outbox with pending frames once per event-loop iteration."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Outbox] = []
        self._scheduled = False

    def mark(self, outbox: Outbox) -> None:
        """Flush ``outbox`` on the next iteration (called on its first pending frame)."""
        self._dirty.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for outbox in dirty:
            outbox.flush()


class Outbox:
    """The pending frames of one connection.

    Args:
        transport: the connection's transport (plain TCP or TLS).
        flusher: the loop-wide flusher.
        high_water: transport buffer size, in bytes, that marks a slow consumer.
        on_slow: called once when the mark is passed; must not raise.
    """

    __slots__ = ("_flusher", "_high_water", "_on_slow", "_pending", "_transport", "closed")

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        flusher: Flusher,
        *,
        high_water: int,
        on_slow: Callable[[], None],
    ) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self._transport: asyncio.WriteTransport = transport
        self._flusher = flusher
        self._high_water = high_water
        self._on_slow = on_slow
        self._pending: list[bytes] = []
        self.closed = False

    def push(self, frame: bytes) -> None:
        """Queue ``frame``; dropped once the outbox is closed."""
        if self.closed:
            return
        if not self._pending:
            self._flusher.mark(self)
        self._pending.append(frame)

    def flush(self) -> None:
        """Write everything pending in one call, then check the slow-consumer mark."""
        pending = self._pending
        if not pending or self.closed:
            return
        self._pending = []
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
        transport = self._transport
        if not transport.is_closing():
            transport.write(b"".join(pending) + frame)
