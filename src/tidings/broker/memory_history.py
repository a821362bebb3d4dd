"""Channel history for the embedded broker: a bounded ring per channel, one process.

Each channel that keeps history has a ring of its last ``size`` publications
(the very ``Publication`` objects the fan-out encodes: the event data is one
string shared by the ring and every frame, never copied), its serial and its
stream id.

Memory bound (node-wide): the rings together hold at most ``max_bytes`` of
event data and names (plus a fixed per-event overhead, :data:`EVENT_OVERHEAD`).
Eviction rule: when a publication would pass it, the oldest events of the
channel published to least recently go first (its stream id and serial stay,
so a recovery into the evicted range answers ``recovered: false`` instead of
replaying part of it). A channel's events expire ``ttl`` seconds after its
last publication; its position is kept for :data:`POSITION_TTL` seconds (so
a client of a quiet channel still recovers: nothing was missed), then
forgotten (the next publication starts a new stream). Expiry is lazy: done by
the next publication or read, oldest channel first, O(1) per expired event.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from tidings.domain.history import NO_STREAM, HistoryPage, Retention, StreamPosition
from tidings.domain.messages import Publication

__all__ = ["DEFAULT_MAX_BYTES", "EVENT_OVERHEAD", "POSITION_TTL", "MemoryHistory"]

#: Default node-wide cap of kept event bytes: 64 MiB.
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
#: Bytes counted per kept event on top of its data and names: the Publication
#: object, its slot in the ring and the ints (measured with sys.getsizeof, rounded up).
EVENT_OVERHEAD: Final = 200
#: Channels one expiry sweep looks at (the rest wait for later calls).
_SWEEP: Final = 32
#: A sweep runs once per this many appends (+1; a power of two minus one, as a mask).
_SWEEP_EVERY: Final = 63
#: Seconds a channel's position outlives its last publication (one day).
POSITION_TTL: Final = 86_400.0

_Key = tuple[str, str]


@dataclass(slots=True)
class _Ring:
    """One channel's stream: position, events (oldest first) and their size."""

    stream_id: str
    serial: int = 0
    events: deque[Publication] = field(default_factory=deque)
    sizes: deque[int] = field(default_factory=deque)
    bytes: int = 0
    expires_at: float = 0.0  # events
    forgotten_at: float = 0.0  # the position


def new_stream_id() -> str:
    """A fresh stream id: 64 random bits as 16 hex digits."""
    return secrets.token_hex(8)


class MemoryHistory:
    """The rings of every history channel of one process.

    Args:
        max_bytes: the node-wide cap (see the module docstring for the rule).
        clock: monotonic seconds, for expiry (tests pass a fake one).
        wall_clock: Unix seconds, for ``published_at_ms``.
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        self._max_bytes = max_bytes
        self._clock = clock
        self._wall_clock = wall_clock
        # Least recently published first: expiry and eviction start at the front.
        self._rings: OrderedDict[_Key, _Ring] = OrderedDict()
        self._appends = 0
        self.bytes = 0  # kept now, for the metrics
        self.evicted = 0  # events dropped by the cap

    def append(self, pub: Publication, keep: Retention) -> Publication:
        """Keep ``pub`` as the channel's next serial; the publication to fan out.

        The returned publication carries ``serial``, ``stream_id`` and
        ``published_at_ms``; it is the object kept.
        """
        now = self._clock()
        self._appends += 1
        if not self._appends & _SWEEP_EVERY:  # amortised: _fresh keeps reads exact
            self._expire(now)
        key = (pub.app_id, pub.channel)
        ring = self._fresh(key, now)
        if ring is None:
            ring = self._rings[key] = _Ring(new_stream_id())
        else:
            self._rings.move_to_end(key)  # now the most recently published
        ring.serial += 1
        p = pub
        # The constructor, not dataclasses.replace: this runs per kept publication.
        kept = Publication(
            p.app_id, p.channel, p.event, p.data, p.socket_id, p.user_id, p.meta,
            p.from_client, p.cache, ring.serial, ring.stream_id,
            int(self._wall_clock() * 1000),
        )  # fmt: skip
        size = len(pub.data) + len(pub.event) + len(pub.channel) + EVENT_OVERHEAD
        ring.events.append(kept)
        ring.sizes.append(size)
        ring.bytes += size
        self.bytes += size
        while len(ring.events) > keep.size:
            self._drop_oldest(ring)
        ring.expires_at = now + keep.ttl
        ring.forgotten_at = now + max(POSITION_TTL, keep.ttl)
        if self.bytes > self._max_bytes:
            self._evict()
        return kept

    def read(self, app_id: str, channel: str, after_serial: int, limit: int) -> HistoryPage:
        """The kept events after ``after_serial`` (see ``Broker.history``)."""
        now = self._clock()
        self._expire(now)
        ring = self._fresh((app_id, channel), now)
        if ring is None:
            return HistoryPage(StreamPosition(0, NO_STREAM), (), True)
        position = StreamPosition(ring.serial, ring.stream_id)
        events = ring.events
        first = events[0].serial if events else ring.serial + 1
        assert first is not None
        # Serials in a ring are consecutive: the index of after_serial + 1 is direct.
        start = max(0, after_serial + 1 - first)
        picked = tuple(events[i] for i in range(start, min(len(events), start + limit)))
        complete = after_serial >= ring.serial or after_serial + 1 >= first
        return HistoryPage(position, picked, complete)

    def channel_stats(self, app_id: str, channel: str) -> tuple[StreamPosition, int] | None:
        """The position and the number of kept events of a channel, or ``None``."""
        ring = self._fresh((app_id, channel), self._clock())
        if ring is None:
            return None
        return StreamPosition(ring.serial, ring.stream_id), len(ring.events)

    def _drop_oldest(self, ring: _Ring) -> None:
        ring.events.popleft()
        size = ring.sizes.popleft()
        ring.bytes -= size
        self.bytes -= size

    def _expire(self, now: float) -> None:
        """Reclaim expired events and forgotten positions, least recently published first.

        At most :data:`_SWEEP` channels per call, so a call stays O(1) however many
        quiet channels keep only a position; the ring a call reads or appends to
        is checked on its own (``_fresh``), so nothing expired is ever returned.
        """
        rings = self._rings
        for key, ring in list(itertools.islice(rings.items(), _SWEEP)):
            if ring.forgotten_at <= now:
                del rings[key]
                self.bytes -= ring.bytes
            elif ring.events and ring.expires_at <= now:
                while ring.events:
                    self._drop_oldest(ring)
            elif ring.events:
                return  # published more recently than anything behind it expires

    def _fresh(self, key: _Key, now: float) -> _Ring | None:
        """The ring of ``key`` without expired events, or ``None`` once forgotten."""
        ring = self._rings.get(key)
        if ring is None:
            return None
        if ring.forgotten_at <= now:
            del self._rings[key]
            self.bytes -= ring.bytes
            return None
        if ring.expires_at <= now:
            while ring.events:
                self._drop_oldest(ring)
        return ring

    def _evict(self) -> None:
        """Hold the cap: drop the oldest events of the least recently published channels."""
        for ring in self._rings.values():
            while ring.events and self.bytes > self._max_bytes:
                self._drop_oldest(ring)
                self.evicted += 1
            if self.bytes <= self._max_bytes:
                return
