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
