"""What the Redis broker reports about itself: health per shard and the metrics' counters.

Each figure is read from the broker's links (one per shard) when asked, never
kept apart from them: ``healthy`` is True only while every shard answers,
``shards_down`` names the others, and the counters are sums over the shards
(the round trip, the slowest shard's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.broker.redis_link import RedisLink

__all__ = ["LinkReadings"]


class LinkReadings:
    """The broker's readings (mixed into ``RedisBroker``, which sets ``_links``)."""

    _links: list[RedisLink]

    @property
    def healthy(self) -> bool:
        """True while both Redis connections (of every shard) answer; False during an outage."""
        return all(link.healthy for link in self._links)

    def shards_down(self) -> dict[str, str]:
        """Each shard that does not answer (its label) and why; empty while all answer.

        With one Redis the label is ``""``.
        """
        return {link.label: link.reason for link in self._links if not link.healthy}

    @property
    def subscribed_channels(self) -> int:
        """How many Redis channels of tidings channels this node receives (controls aside)."""
        return sum(len(link.subscriber.wanted) for link in self._links) - 1

    @property
    def dropped(self) -> int:
        """Client events, member changes and counts an outage cost."""
        return sum(link.outbox.dropped for link in self._links)

    @property
    def reconnects(self) -> int:
        """Recoveries after an outage (metrics: ``tidings_broker_reconnects_total``)."""
        return sum(link.reconnects for link in self._links)

    @property
    def round_trip(self) -> float | None:
        """Seconds the last monitor PING took (the slowest server), ``None`` before the first."""
        trips = [link.round_trip for link in self._links if link.round_trip is not None]
        return max(trips) if trips else None
