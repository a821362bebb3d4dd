"""HistorySequencer: serial order per channel, duplicates dropped, gaps filled from history.

The broker's history is a fake (a list of kept publications); no sockets, no Redis.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tidings.core.history import HistorySequencer
from tidings.domain.history import HistoryPage, StreamPosition
from tidings.domain.messages import Publication
from tidings.typing import AppId, ChannelName

APP = AppId("1")
CHAT = ChannelName("chat")
STREAM = "0123456789abcdef"


def kept(serial: int, stream: str = STREAM) -> Publication:
    return Publication(APP, CHAT, "e", str(serial), serial=serial, stream_id=stream)


class FakeHistory:
    """A channel's stream from ``first`` to ``last``; reads are counted."""

    def __init__(self, first: int, last: int, stream: str = STREAM) -> None:
        self.first, self.last, self.stream = first, last, stream
        self.reads = 0
        self.fail = 0

    async def fetch(
        self, app_id: AppId, channel: ChannelName, after: int, limit: int
    ) -> HistoryPage:
        self.reads += 1
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store away")
        start = max(after + 1, self.first)
        events = tuple(
            kept(s, self.stream) for s in range(start, min(self.last, after + limit) + 1)
        )
        complete = bool(events) and events[0].serial == after + 1 or after >= self.last
        return HistoryPage(StreamPosition(self.last, self.stream), events, complete)


def sequencer(history: FakeHistory) -> tuple[HistorySequencer, list[int]]:
    out: list[int] = []
    seq = HistorySequencer(lambda pub: out.append(pub.serial or -1), history.fetch)
    return seq, out


async def settle(seq: HistorySequencer) -> None:
    """Let repair tasks finish (bounded)."""
    for _ in range(50):
        await asyncio.sleep(0)
        if all(c.repair is None for c in seq._cursors.values()):
            return
    raise AssertionError("repair did not finish")


async def test_in_order_delivered_duplicates_dropped() -> None:
    """Consecutive serials pass through; at or below the last one are dropped."""
    seq, out = sequencer(FakeHistory(1, 3))
    for serial in (1, 2, 2, 1, 3):
        seq.accept(kept(serial))
    assert out == [1, 2, 3] and seq.stats.duplicates == 2
    assert seq.last_delivered(APP, CHAT) == (3, STREAM)


async def test_a_skipped_serial_is_read_from_history_before_newer_ones() -> None:
    """5 after 2: 3 and 4 come from history, then 5, then what arrived meanwhile."""
    history = FakeHistory(1, 6)
    seq, out = sequencer(history)
    seq.accept(kept(1))
    seq.accept(kept(2))
    seq.accept(kept(5))
    seq.accept(kept(6))  # held behind the gap
    await settle(seq)
    assert out == [1, 2, 3, 4, 5, 6]
    assert seq.stats.gaps_repaired == 1 and seq.stats.events_repaired == 2
    seq.accept(kept(7))
    assert out[-1] == 7


async def test_what_history_no_longer_has_is_skipped_and_counted() -> None:
    """A gap older than the stream keeps: lost, and delivery goes on in order."""
    seq, out = sequencer(FakeHistory(8, 10))
    seq.accept(kept(1))
    seq.accept(kept(10))
    await settle(seq)
    assert out == [1, 8, 9, 10] and seq.stats.lost == 6


async def test_catch_up_after_a_reconnect_reads_the_tail() -> None:
    """Nothing new arrived after the link came back: catch_up reads what was missed."""
    history = FakeHistory(1, 4)
    seq, out = sequencer(history)
    seq.accept(kept(1))
    seq.catch_up()
    await settle(seq)
    assert out == [1, 2, 3, 4]


async def test_an_unreachable_store_is_retried_then_the_gap_given_up() -> None:
    """Failed reads are retried; past the attempts, held events go out in order."""
    history = FakeHistory(1, 4)
    history.fail = 1
    seq, out = sequencer(history)
    seq.accept(kept(1))
    seq.accept(kept(4))
    for _ in range(20):
        await asyncio.sleep(0.05)
        if out == [1, 2, 3, 4]:
            break
    assert out == [1, 2, 3, 4] and history.reads == 2


async def test_a_new_stream_restarts_the_cursor() -> None:
    """Another stream id (the stream was lost): follow it from the publication received."""
    seq, out = sequencer(FakeHistory(1, 1))
    seq.accept(kept(5))
    seq.accept(replace(kept(1), stream_id="f" * 16))
    seq.accept(replace(kept(2), stream_id="f" * 16))
    assert out == [5, 1, 2] and seq.last_delivered(APP, CHAT) == (2, "f" * 16)


async def test_forget_drops_the_cursor_and_cancels_its_repair() -> None:
    """The last local subscriber left: no cursor, no repair left running."""
    seq, out = sequencer(FakeHistory(1, 9))
    seq.accept(kept(1))
    seq.accept(kept(9))
    seq.forget(APP, CHAT)
    await asyncio.sleep(0)
    assert seq.last_delivered(APP, CHAT) is None
    await seq.close()
