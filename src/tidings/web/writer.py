"""Coalesced, bounded per-connection writes.

Every connection owns an ``Outbox``. ``push()`` only appends a frame to a list;
the first push after a flush registers the outbox with the ``Flusher``, which
from the next iteration on does ONE ``transport.write`` per outbox with data.
A fan-out to N subscribers therefore costs N list appends now and N syscalls
once, however many publications arrived in between.

An outbox that collects ``FLUSH_AT_BYTES`` before its turn writes at once, so
pending frames stay bounded when publications outrun the slices.

While the socket is behind (the transport's own buffer is over its high-water
mark, asyncio's 64 KiB by default) an outbox stops writing and holds frames
itself, where they can still be dropped; ``resume()`` (called when the
transport drains) writes them. So a connection's unsent bytes are its outbox's
plus at most that mark (and one frame) in the transport, and when they pass
``high_water`` the connection is a slow consumer: its pending frames, stale by
now, are dropped, its ``on_slow`` callback runs once (the shell sends
``pusher:error`` 4100 and a close frame, which are then only behind the
transport's few KiB and the kernel's socket buffer, and stay deliverable for
the activity timeout: ``ClientConnection.close``) and further pushes are
dropped, so no other connection ever waits for it.

What the server sends after the handshake (events, errors, pongs, pings, its
close frame) is complete unmasked frames (``tidings.protocol.frames``) that
this module writes straight to the connection's ``asyncio`` transport, in
queue order; every write is whole frames, so frames never interleave.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final, cast

__all__ = ["FLUSH_AT_BYTES", "Flusher", "Outbox", "Traffic"]

#: Pending bytes at which an outbox writes without waiting for its slice.
FLUSH_AT_BYTES: Final = 64 * 1024


def _transport_high_water(transport: asyncio.WriteTransport) -> int:
    """The transport's high-water mark (over it, asyncio pauses the protocol)."""
    try:
        return transport.get_write_buffer_limits()[1]
    except (AttributeError, NotImplementedError):
        return FLUSH_AT_BYTES  # not reported: asyncio's default is 64 KiB as well


def _ignore() -> None:
    pass


class Traffic:
    """WebSocket traffic totals of one server, for the metrics (plain integers).

    ``frames_out``/``bytes_out`` are added once per ``transport.write`` (a flush),
    never per subscriber; ``bytes_in`` once per socket read (``web.framing``),
    ``frames_in`` once per client message.
    """

    __slots__ = ("bytes_in", "bytes_out", "frames_in", "frames_out")

    def __init__(self) -> None:
        self.frames_in = 0
        self.bytes_in = 0
        self.frames_out = 0
        self.bytes_out = 0


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

    __slots__ = ("_batch", "_dirty", "_loop", "_scheduled", "traffic")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, batch: int = 32) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch!r}")
        self.traffic = Traffic()
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
        high_water: unsent bytes (held here + in the transport) that mark a slow consumer.
        on_slow: called once when the mark is passed; must not raise.
        hold: hold frames while the transport is over its high-water mark.
            Only when something calls :meth:`resume` once it has drained (the
            shell wires it to the protocol's ``resume_writing``); without
            that, every flush writes whatever the transport holds.
    """

    __slots__ = (
        "_flusher",
        "_high_water",
        "_hold_above",
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
        hold: bool = False,
    ) -> None:
        # uvloop's transports do not subclass asyncio's ABCs; they have the same methods.
        self._transport = cast(asyncio.WriteTransport, transport)
        self._flusher = flusher
        self._high_water = high_water
        self._hold_above = _transport_high_water(self._transport) if hold else None
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
        """Write what is pending in one call, or hold it while the socket is behind.

        Passing ``high_water`` unsent bytes makes the connection a slow consumer.
        """
        if not self._pending or self.closed:
            return
        transport = self._transport
        if transport.is_closing():
            self._drop()
            return
        hold_above = self._hold_above
        if hold_above is not None:
            buffered = transport.get_write_buffer_size()
            if buffered + self._pending_bytes > self._high_water:
                self._slow()
                return
            while buffered + self._pending_bytes > hold_above:
                if buffered > hold_above:
                    return  # the transport is paused: resume() goes on from here
                self._write_some(hold_above - buffered)
                buffered = transport.get_write_buffer_size()
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._pending_bytes = 0
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        transport.write(data)
        traffic = self._flusher.traffic
        traffic.frames_out += len(pending)
        traffic.bytes_out += len(data)
        if transport.get_write_buffer_size() > self._high_water:
            self._slow()

    def resume(self) -> None:
        """The transport has drained: write what was held (the shell calls this)."""
        if self._pending:
            self.flush()

    def _write_some(self, room: int) -> None:
        """Write leading frames until they pass ``room`` bytes (by one frame at most).

        Passing it pushes the transport over its mark, so it pauses and its
        resume() will come; the frames left wait for it.
        """
        pending = self._pending
        count, size = 0, 0
        for frame in pending:
            count += 1
            size += len(frame)
            if size > room:
                break
        self._pending = pending[count:]
        self._pending_bytes -= size
        self._transport.write(b"".join(pending[:count]))
        traffic = self._flusher.traffic
        traffic.frames_out += count
        traffic.bytes_out += size

    def release(self) -> None:
        """The connection is gone: drop what is pending and forget ``on_slow``.

        ``on_slow`` is the connection's bound method, and the connection holds
        this outbox: forgetting it breaks that reference cycle, so the closed
        connection is freed by reference counting, not by a full collection.
        """
        self._drop()
        self._on_slow = _ignore

    def _drop(self) -> None:
        self.closed = True
        self._pending = []
        self._pending_bytes = 0

    def _slow(self) -> None:
        # What is still here is stale by now: drop it, so the close frames that
        # on_slow writes are behind the transport's few KiB only.
        self._drop()
        self._on_slow()

    def write_now(self, frame: bytes) -> None:
        """Flush what is pending, then write ``frame`` at once, even after ``closed``.

        Used for the last frames of a connection (an error before a close).
        """
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        transport = self._transport
        if not transport.is_closing():
            data = b"".join(pending) + frame
            transport.write(data)
            traffic = self._flusher.traffic
            traffic.frames_out += len(pending) + 1
            traffic.bytes_out += len(data)
