"""Gap repair: each history channel's kept publications reach local subscribers in serial order.

A broker delivers one channel's kept publications in serial order while its
link holds. When a link drops (a Redis pub/sub connection killed, a failover)
a node misses some: it notices when the next serial is not the one after the
last it delivered, or when the broker says it reconnected. The
``HistorySequencer`` then reads the missing range from the channel's history
and delivers it, in order, before anything newer (held meanwhile): subscribers
see each serial once, in order, with nothing missing that history still kept.

Rules, per channel (one ``_Cursor`` while this node has subscribers on it):

- The first kept publication received sets the cursor (stream id, serial).
- Serial ``last + 1``: delivered. At or below ``last``: a duplicate, dropped.
- Above ``last + 1``: held, and one repair task reads ``history(after=last)``
  and delivers what fills the gap, then the held ones that now follow.
- What history no longer has (expired, evicted, or the read failed
  ``_ATTEMPTS`` times) is skipped: counted in ``lost``, never waited for.
- Another stream id: the stream was lost and restarted; the cursor follows the
  new stream from the publication received.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from tidings import tasks
from tidings.domain.history import MAX_HISTORY_LIMIT, HistoryPage
from tidings.domain.messages import Publication
from tidings.typing import AppId, ChannelName

__all__ = ["HistorySequencer", "SequencerStats"]

#: History reads one repair tries before it gives the gap up as lost.
_ATTEMPTS: Final = 5
#: Publications held behind one gap beyond which the gap is given up (memory bound).
_MAX_HELD: Final = 10_000

_Key = tuple[AppId, ChannelName]
Fetch = Callable[[AppId, ChannelName, int, int], Awaitable[HistoryPage]]
_log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SequencerStats:
    """Running totals for the metrics."""

    gaps_repaired: int = 0  # repairs that ran (a gap seen, or a reconnect)
    events_repaired: int = 0  # publications delivered from history by them
    lost: int = 0  # serials history no longer had
    duplicates: int = 0  # publications dropped as already delivered


@dataclass(slots=True)
class _Cursor:
    stream_id: str
    last: int
    held: dict[int, Publication] = field(default_factory=dict)
    repair: asyncio.Task[None] | None = None


class HistorySequencer:
    """Delivers kept publications in serial order per channel, repairing gaps from history.

    Args:
        deliver: hands one publication to the local subscribers (synchronous).
        fetch: ``Broker.history``.
    """

    def __init__(self, deliver: Callable[[Publication], None], fetch: Fetch) -> None:
        self._deliver = deliver
        self._fetch = fetch
        self._cursors: dict[_Key, _Cursor] = {}
        self.stats = SequencerStats()

    def last_delivered(self, app_id: AppId, channel: ChannelName) -> tuple[int, str] | None:
        """``(serial, stream_id)`` of the last publication delivered on a channel, if any."""
        cursor = self._cursors.get((app_id, channel))
        return None if cursor is None else (cursor.last, cursor.stream_id)

    def accept(self, pub: Publication) -> None:
        """A kept publication from the broker: deliver it, drop it or hold it (see the rules)."""
        serial, stream_id = pub.serial, pub.stream_id
        assert serial is not None and stream_id is not None
        key = (pub.app_id, pub.channel)
        cursor = self._cursors.get(key)
        if cursor is None:
            self._cursors[key] = _Cursor(stream_id, serial)
            self._deliver(pub)
            return
        if stream_id != cursor.stream_id:
            self._restart(cursor, stream_id, serial)
            self._deliver(pub)
            return
        if serial <= cursor.last:
            self.stats.duplicates += 1
            return
        if serial == cursor.last + 1 and cursor.repair is None:
            cursor.last = serial
            self._deliver(pub)
            return
        cursor.held[serial] = pub
        if len(cursor.held) > _MAX_HELD:
            self._give_up(cursor)
        elif cursor.repair is None:
            self._start_repair(key, cursor)

    def catch_up(self) -> None:
        """The broker link came back: read what each channel may have missed meanwhile."""
        for key, cursor in self._cursors.items():
            if cursor.repair is None:
                self._start_repair(key, cursor)

    def forget(self, app_id: AppId, channel: ChannelName) -> None:
        """This node's last subscriber left ``channel``: drop its cursor (and its repair)."""
        cursor = self._cursors.pop((app_id, channel), None)
        if cursor is not None and cursor.repair is not None:
            cursor.repair.cancel()

    async def close(self) -> None:
        """Cancel every repair in flight."""
        repairs = [c.repair for c in self._cursors.values()]
        self._cursors.clear()
        await tasks.stop(*repairs)

    # -- internals -------------------------------------------------------------------------

    def _start_repair(self, key: _Key, cursor: _Cursor) -> None:
        self.stats.gaps_repaired += 1
        cursor.repair = asyncio.get_running_loop().create_task(
            self._repair(key, cursor), name=f"history-repair-{key[1]}"
        )

    async def _repair(self, key: _Key, cursor: _Cursor) -> None:
        """Read history after ``cursor.last`` until the gap is filled or given up."""
        attempts = 0
        try:
            while True:
                try:
                    page = await self._fetch(key[0], key[1], cursor.last, MAX_HISTORY_LIMIT)
                except Exception as exc:  # the store is away: retry, then give up
                    attempts += 1
                    if attempts >= _ATTEMPTS:
                        _log.warning(
                            "history unreachable; skipping a gap", channel=key[1], error=str(exc)
                        )
                        self._give_up(cursor)
                        return
                    await asyncio.sleep(0.1 * 2**attempts)
                    continue
                if page.position.stream_id != cursor.stream_id:
                    if page.position.serial == 0 or not page.events:
                        self._give_up(cursor)
                        return
                    # The stream restarted: nothing before it can be had.
                    self._restart(cursor, page.position.stream_id, 0)
                    continue
                if not page.complete:
                    first = page.events[0].serial if page.events else page.position.serial + 1
                    assert first is not None
                    self.stats.lost += first - 1 - cursor.last
                    cursor.last = first - 1
                for event in page.events:
                    assert event.serial is not None
                    if event.serial == cursor.last + 1:
                        cursor.last = event.serial
                        if cursor.held.pop(event.serial, None) is None:
                            self.stats.events_repaired += 1
                        self._deliver(event)
                self._release_held(cursor)
                more = page.events and cursor.last < page.position.serial
                if not more and not cursor.held:
                    return
                if not page.events:  # the held ones are newer than anything stored: lost
                    self._give_up(cursor)
                    return
        finally:
            cursor.repair = None

    def _release_held(self, cursor: _Cursor) -> None:
        """Deliver held publications that now follow ``cursor.last``; drop older ones."""
        held = cursor.held
        for serial in [s for s in held if s <= cursor.last]:
            del held[serial]
        while cursor.last + 1 in held:
            cursor.last += 1
            self._deliver(held.pop(cursor.last))

    def _give_up(self, cursor: _Cursor) -> None:
        """Skip the gap: deliver what is held, in order, and count what is missing."""
        for serial in sorted(cursor.held):
            pub = cursor.held.pop(serial)
            if serial <= cursor.last:
                continue
            self.stats.lost += serial - cursor.last - 1
            cursor.last = serial
            self._deliver(pub)

    def _restart(self, cursor: _Cursor, stream_id: str, serial: int) -> None:
        cursor.stream_id = stream_id
        cursor.last = serial
        cursor.held.clear()
