"""Coalesced, bounded per-connection writes: the contract of ``tidings.web.writer``.

The transport here records writes; everything else is the real loop and the real
flusher, so the test sees exactly which bytes reach each connection and when.
"""

from __future__ import annotations

import asyncio

import pytest

from tidings.web.writer import FLUSH_AT_BYTES, Flusher, Outbox


class RecordingTransport(asyncio.WriteTransport):
    """A transport that keeps what it was asked to write, with a settable buffer size."""

    def __init__(self, buffered: int = 0) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.buffered = buffered
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing


def make(flusher: Flusher, n: int, **kwargs: int) -> tuple[list[Outbox], list[RecordingTransport]]:
    transports = [RecordingTransport(**kwargs) for _ in range(n)]
    outboxes = [Outbox(t, flusher, high_water=1000, on_slow=lambda: None) for t in transports]
    return outboxes, transports


async def next_iteration() -> None:
    await asyncio.sleep(0)


async def test_frames_pushed_in_one_iteration_leave_in_one_write() -> None:
    flusher = Flusher(asyncio.get_running_loop())
    (a, b), (ta, tb) = make(flusher, 2)
    for frame in (b"1", b"2", b"3"):
        a.push(frame)
        b.push(frame)
    assert ta.writes == [] and tb.writes == []  # nothing is written synchronously
    await next_iteration()
    assert ta.writes == [b"123"] and tb.writes == [b"123"]


async def test_flush_is_sliced_and_unreached_outboxes_keep_collecting() -> None:
    """With ``batch=2``, one iteration flushes two outboxes; frames pushed meanwhile to
    the others join their single pending write. Order is first marked, first flushed."""
    flusher = Flusher(asyncio.get_running_loop(), batch=2)
    outboxes, transports = make(flusher, 5)
    for box in outboxes:
        box.push(b"a")
    await next_iteration()
    assert [len(t.writes) for t in transports] == [1, 1, 0, 0, 0]
    for box in outboxes:
        box.push(b"b")
    for _ in range(5):
        await next_iteration()
    assert [t.writes for t in transports[2:]] == [[b"ab"]] * 3
    assert [t.writes for t in transports[:2]] == [[b"a", b"b"]] * 2


async def test_an_outbox_over_the_flush_mark_writes_without_waiting() -> None:
    """Publications that outrun the slices cannot pile up: past ``FLUSH_AT_BYTES`` an
    outbox writes at once, even if the flusher has not reached it."""
    flusher = Flusher(asyncio.get_running_loop(), batch=1)
    outboxes, transports = make(flusher, 3)
    frame = b"x" * 10_000
    for _ in range(100):  # 1 MB each, no loop iteration in between
        for box in outboxes:
            box.push(frame)
    for transport in transports:
        assert sum(map(len, transport.writes)) >= 100 * 10_000 - FLUSH_AT_BYTES
        assert max(map(len, transport.writes)) < FLUSH_AT_BYTES + len(frame)
    for _ in range(6):
        await next_iteration()
    assert all(sum(map(len, t.writes)) == 100 * 10_000 for t in transports)


async def test_a_slow_consumer_is_reported_once_and_then_dropped() -> None:
    flusher = Flusher(asyncio.get_running_loop())
    slow_calls: list[int] = []
    transport = RecordingTransport(buffered=5000)
    box = Outbox(transport, flusher, high_water=1000, on_slow=lambda: slow_calls.append(1))
    healthy, (healthy_transport,) = make(flusher, 1)
    box.push(b"x")
    healthy[0].push(b"x")
    await next_iteration()
    assert slow_calls == [1] and box.closed
    box.push(b"y")
    healthy[0].push(b"y")
    await next_iteration()
    assert transport.writes == [b"x"]  # nothing more reaches the slow one
    assert healthy_transport.writes == [b"x", b"y"]  # the other one is not held up
    assert slow_calls == [1]


async def test_write_now_sends_pending_frames_first_even_when_closed() -> None:
    flusher = Flusher(asyncio.get_running_loop())
    (box,), (transport,) = make(flusher, 1)
    box.push(b"event")
    box.closed = True
    box.write_now(b"close")
    assert transport.writes == [b"eventclose"]
    await next_iteration()
    assert transport.writes == [b"eventclose"]


async def test_a_closing_transport_gets_no_write() -> None:
    flusher = Flusher(asyncio.get_running_loop())
    (box,), (transport,) = make(flusher, 1)
    box.push(b"x")
    transport.closing = True
    await next_iteration()
    assert transport.writes == [] and box.closed


async def test_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Flusher(asyncio.get_running_loop(), batch=0)


class BufferingTransport(RecordingTransport):
    """Written bytes stay buffered (asyncio's 64 KiB high-water mark) until ``drain()``."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        self.buffered += len(data)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 16 * 1024, 64 * 1024

    def drain(self) -> None:
        self.buffered = 0


def holding(
    flusher: Flusher, high_water: int = 1024 * 1024
) -> tuple[Outbox, BufferingTransport, list[int]]:
    transport = BufferingTransport()
    slow: list[int] = []
    box = Outbox(
        transport, flusher, high_water=high_water, on_slow=lambda: slow.append(1), hold=True
    )
    return box, transport, slow


async def test_frames_are_held_while_the_transport_is_over_its_mark() -> None:
    """Past the transport's 64 KiB the outbox keeps frames (in order) until resume()."""
    flusher = Flusher(asyncio.get_running_loop())
    box, transport, slow = holding(flusher)
    frames = [bytes([65 + i]) * 10_000 for i in range(10)]  # 100 kB
    for frame in frames:
        box.push(frame)
    await next_iteration()
    written = b"".join(transport.writes)
    assert 64 * 1024 < len(written) <= 64 * 1024 + 10_000  # one frame past the mark at most
    transport.drain()
    box.resume()
    assert b"".join(transport.writes) == b"".join(frames)
    assert slow == []


async def test_a_held_backlog_past_high_water_is_dropped_and_reported() -> None:
    """Held + buffered bytes over ``high_water``: on_slow once, the held frames never go out."""
    flusher = Flusher(asyncio.get_running_loop())
    box, transport, slow = holding(flusher, high_water=200_000)
    for _ in range(30):  # 300 kB, the transport never drains
        box.push(b"z" * 10_000)
    await next_iteration()
    assert slow == [1] and box.closed
    written = len(b"".join(transport.writes))
    transport.drain()
    box.resume()
    box.push(b"late")
    await next_iteration()
    assert len(b"".join(transport.writes)) == written < 200_000
    box.write_now(b"close")  # the shell's last frames still go out
    assert transport.writes[-1] == b"close"


async def test_without_hold_every_flush_writes() -> None:
    """An outbox not wired to a drain notice (hold=False) never holds frames."""
    flusher = Flusher(asyncio.get_running_loop())
    transport = BufferingTransport()
    box = Outbox(transport, flusher, high_water=10**9, on_slow=lambda: None)
    for _ in range(20):
        box.push(b"w" * 10_000)
    await next_iteration()
    assert len(b"".join(transport.writes)) == 200_000


async def test_traffic_counts_frames_and_bytes_per_write() -> None:
    """The flusher's traffic totals add each write's frames and bytes (written or now)."""
    flusher = Flusher(asyncio.get_running_loop())
    (a, b), (ta, tb) = make(flusher, 2)
    for frame in (b"12", b"345"):
        a.push(frame)
    b.push(b"6")
    await next_iteration()
    b.write_now(b"78")
    assert (flusher.traffic.frames_out, flusher.traffic.bytes_out) == (4, 8)
    assert sum(map(len, ta.writes + tb.writes)) == 8
