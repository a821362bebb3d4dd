"""Subscribing to a history channel: the position, and recovery of what a client missed.

A subscribe to a channel that keeps history may carry the position the client
last saw. The node then puts a :class:`HeldSubscriber` in the hub in the
connection's place: live frames of the channel are held (with the serial of
the publication each one carries) while the node reads the channel's history.
:meth:`HistoryHold.release` then writes, in one synchronous step (nothing else
can run in between):

1. on a recovery: every kept event after the client's serial, in order (the
   history read, then the held frames the read did not have: serial above its
   head, no duplicate), then the confirmation with ``recovered: true`` and the
   serial of the last of them;
2. otherwise (no position, or it cannot be recovered: another stream, or its
   next serial is no longer kept): the held frames, then the confirmation with
   the position of the last frame this node delivered (``recovered: false``
   when a recovery was asked). Never a partial replay.

After the release, frames pass straight to the connection; on a recovery,
frames at or below the last replayed serial (the node may still be delivering
them: it lags behind Redis, or repairs a gap) are dropped until the node has
passed it, then the hub gets the connection itself back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from tidings.broker.base import Broker
from tidings.core.history import HistorySequencer
from tidings.core.hub import Hub
from tidings.core.registry import Connection
from tidings.domain.history import MAX_HISTORY_LIMIT, HistoryPage, StreamPosition, continues
from tidings.typing import AppId, ChannelName, SocketId

__all__ = [
    "DeliveryMark",
    "HeldSubscriber",
    "HistoryHold",
    "RecoveryStats",
    "read_for_subscribe",
]

_log = structlog.get_logger(__name__)

#: Frames one held subscription may collect during a history read; past it the
#: connection is a slow consumer (4100), as when its outbox overflows.
MAX_HELD_FRAMES: Final = 10_000

Confirm = Callable[[tuple[int, str] | None, bool | None], None]
"""Queues the confirmation: ``(serial, stream_id)`` (``None``: unknown) and ``recovered``."""


class DeliveryMark:
    """The serial of the kept publication the node is delivering now (``None``: other messages).

    Set by the node around each ``hub.deliver`` so a held subscriber knows what
    each frame it gets carries, without parsing bytes.
    """

    __slots__ = ("serial",)

    def __init__(self) -> None:
        self.serial: int | None = None


@dataclass(slots=True)
class RecoveryStats:
    """Running totals for the metrics."""

    recovered: int = 0
    not_recovered: int = 0
    replayed: int = 0


class HeldSubscriber:
    """Stands in the hub for a connection while its history-channel subscribe completes."""

    __slots__ = ("_held", "_mark", "_skip_through", "_swap", "conn", "overflow")

    def __init__(self, conn: Connection, mark: DeliveryMark) -> None:
        self.conn = conn
        self._mark = mark
        self._held: list[tuple[int | None, bytes]] | None = []
        self._skip_through = -1
        self._swap: Callable[[], None] | None = None
        self.overflow = False

    @property
    def socket_id(self) -> SocketId:
        return self.conn.socket_id

    @property
    def encoding(self) -> str:
        return self.conn.encoding

    def send_frame(self, frame: bytes) -> None:
        """Hold ``frame`` before the release; after it, pass it on (or drop a replayed one)."""
        serial = self._mark.serial
        held = self._held
        if held is not None:
            if len(held) >= MAX_HELD_FRAMES:
                self.overflow = True
                return
            held.append((serial, frame))
            return
        if serial is not None and serial <= self._skip_through:
            return  # replayed already
        self.conn.send_frame(frame)
        if serial is not None and self._swap is not None:
            self._swap()  # the node is past the replay: the hub gets the connection back

    def __getattr__(self, name: str) -> Any:
        # Anything else the core asks of a subscriber (app, wire, close) is the connection's.
        return getattr(self.conn, name)


async def read_for_subscribe(
    broker: Broker,
    app_id: AppId,
    channel: ChannelName,
    held: HeldSubscriber | None,
    position: StreamPosition | None,
) -> HistoryPage | None:
    """The history read a subscribe needs: from ``position`` on a recovery, else the head.

    ``None`` when the store cannot be read: no recovery then, the subscribe stands.
    """
    try:
        if position is not None and held is not None:
            return await broker.history(app_id, channel, position.serial, MAX_HISTORY_LIMIT)
        return await broker.history(app_id, channel, 0, 0)
    except Exception:
        _log.warning("history unreachable; subscribing without it", channel=channel, exc_info=True)
        return None


@dataclass(slots=True)
class HistoryHold:
    """A history-channel subscribe waiting for the shell to write its answer.

    Attributes:
        held: the hub's stand-in, or ``None`` when the connection was already on
            the channel (nothing held, nothing replayed).
        page: the history read (the position only without a recovery); ``None``
            when history could not be read.
        asked: the position the client sent, if any.
    """

    app_id: AppId
    channel: ChannelName
    conn: Connection
    hub: Hub
    sequencer: HistorySequencer
    stats: RecoveryStats
    held: HeldSubscriber | None
    page: HistoryPage | None
    asked: StreamPosition | None

    def release(self, confirm: Confirm) -> None:
        """Write the replay, the confirmation and the held frames in order (module docstring).

        Must be called once, with no ``await`` between it and the node's
        ``subscribe`` returning... or anywhere inside ``confirm``.
        """
        held = self.held
        frames = [] if held is None or held._held is None else held._held
        if held is not None:
            held._held = None
        if held is not None and not self._still_subscribed(held):
            return  # unsubscribed or closed meanwhile: nothing to confirm
        if held is not None and held.overflow:
            self.conn.close(4100, "Too many events while recovering the channel's history")
            return
        page, asked = self.page, self.asked
        delivered = self.sequencer.last_delivered(self.app_id, self.channel)
        if page is not None and asked is not None and self._recoverable(page, asked):
            assert held is not None
            head = page.position
            for event in page.events:
                self.hub.send_to(self.conn, event)
            self.stats.recovered += 1
            self.stats.replayed += len(page.events)
            serial = head.serial
            later: list[bytes] = []
            for frame_serial, frame in frames:
                if frame_serial is None:
                    later.append(frame)  # not an event of the stream: after the confirmation
                elif frame_serial > head.serial:  # delivered live after the read: catch-up too
                    self.conn.send_frame(frame)
                    serial = frame_serial
            confirm((serial, head.stream_id), True)
            for frame in later:
                self.conn.send_frame(frame)
            held._skip_through = serial
            if delivered is not None and delivered[0] >= serial:
                self._give_back(held)
            else:
                held._swap = lambda: self._give_back(held)
            return
        for _, frame in frames:
            self.conn.send_frame(frame)
        position: tuple[int, str] | None = delivered
        if position is None and page is not None:
            position = (page.position.serial, page.position.stream_id)
        if asked is not None:
            self.stats.not_recovered += 1
        confirm(position, None if asked is None else False)
        if held is not None:
            self._give_back(held)

    def _recoverable(self, page: HistoryPage, asked: StreamPosition) -> bool:
        """The same stream (or none before), not ahead of it, and nothing dropped since."""
        if self.held is None or not continues(asked, page.position):
            return False
        return page.complete

    def _still_subscribed(self, held: HeldSubscriber) -> bool:
        return self.hub.current(self.app_id, self.channel, held.conn) is held

    def _give_back(self, held: HeldSubscriber) -> None:
        """Put the connection itself in the hub in place of its stand-in."""
        held._swap = None
        self.hub.replace(self.app_id, self.channel, held, self.conn)
