"""Channel history: positions in a channel's stream and what a read of it returns.

A channel that keeps history (``App.history_channels``) has a stream: a
``stream_id`` (random, new whenever the stream is created or lost) and a
``serial`` that grows by one per kept publication. A client that knows a
position can ask for what came after it; the answer says whether it is whole.

Don't subclass these: they are frozen, slotted and compared by value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tidings.domain.messages import Publication

__all__ = [
    "MAX_HISTORY_LIMIT",
    "NO_STREAM",
    "STREAM_ID_PATTERN",
    "HistoryPage",
    "Retention",
    "StreamPosition",
    "continues",
    "is_stream_id",
]

#: A stream id as brokers mint them: 16 lowercase hex digits (64 random bits).
STREAM_ID_PATTERN: Final = re.compile(r"[0-9a-f]{16}")
#: The stream id of a channel nothing was kept on yet (serial 0). A client that
#: saw it has seen nothing: any stream the channel starts later counts from it.
NO_STREAM: Final = "0" * 16
#: The most events one history read returns (``history_size`` cannot be larger).
MAX_HISTORY_LIMIT: Final = 1000


def is_stream_id(value: object) -> bool:
    """Whether ``value`` has the form of a stream id (not whether that stream exists)."""
    return isinstance(value, str) and STREAM_ID_PATTERN.fullmatch(value) is not None


def continues(seen: StreamPosition, current: StreamPosition) -> bool:
    """Whether a reader at ``seen`` can catch up on ``current``'s stream.

    True on the same stream (at or before its head), or from serial 0 of
    :data:`NO_STREAM` (the reader saw nothing before the stream began).
    """
    if seen.stream_id == current.stream_id:
        return seen.serial <= current.serial
    return seen.stream_id == NO_STREAM and seen.serial == 0


@dataclass(frozen=True, slots=True)
class Retention:
    """How a channel's events are kept: the app's ``history_size`` and ``history_ttl``."""

    size: int
    ttl: int


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """A point in a channel's stream: the serial of the last publication, and the stream.

    ``serial`` 0 with a fresh ``stream_id`` is a stream nothing was published to.
    """

    serial: int
    stream_id: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """What a history read returns.

    Attributes:
        position: the channel's current position (its last publication).
        events: kept publications after the requested serial, oldest first,
            each with ``serial``, ``stream_id`` and ``published_at_ms`` set.
        complete: nothing between the requested serial and the first event
            returned was dropped (expired or evicted): with no events, the
            requested serial is the current one (or later).
    """

    position: StreamPosition
    events: tuple[Publication, ...]
    complete: bool
