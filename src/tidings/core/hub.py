"""The local index of subscribers and the fan-out hot path.

The hub maps (app, channel) to the connections of THIS process. A publication
is encoded once per wire protocol present on the channel, and the same bytes
object is handed to every subscriber's ``send_frame``, which only appends to a
per-connection buffer (see ``tidings.server.writer``). No task, no await and
no JSON work happen per subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from tidings.core.model import Publication, Wire
from tidings.typing import AppId, ChannelName, SocketId

__all__ = ["Encoder", "Hub", "Subscriber"]

Encoder = Callable[[Publication], bytes]
"""Turns a publication into a complete WebSocket frame for one wire protocol."""


class Subscriber(Protocol):
    """What the hub needs of a connection."""

    @property
    def socket_id(self) -> SocketId: ...

    @property
    def wire(self) -> Wire: ...

    def send_frame(self, frame: bytes) -> None:
        """Queue ``frame`` for writing. Must not block, await or raise."""


_Key = tuple[AppId, ChannelName, Wire]


class Hub:
    """(app, channel, wire) → {socket id: subscriber}, for this process only.

    Keyed by wire rather than nested under the channel so that a channel with
    one subscriber (the common case with private channels) costs one small dict;
    a delivery makes one lookup per wire protocol.

    Args:
        encoders: one frame encoder per wire protocol the server speaks.
    """

    def __init__(self, encoders: Mapping[Wire, Encoder]) -> None:
        self._encoders = dict(encoders)
        self._wires = tuple(self._encoders)
        self._subs: dict[_Key, dict[SocketId, Subscriber]] = {}

    def _occupied(self, app_id: AppId, channel: ChannelName) -> bool:
        subs = self._subs
        return any((app_id, channel, wire) in subs for wire in self._wires)

    def add(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Add ``sub`` to ``channel``; ``True`` when it is the channel's first local subscriber."""
        first = not self._occupied(app_id, channel)
        self._subs.setdefault((app_id, channel, sub.wire), {})[sub.socket_id] = sub
        return first

    def remove(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Remove ``sub``; ``True`` when the channel has no local subscriber left."""
        key = (app_id, channel, sub.wire)
        subs = self._subs.get(key)
        if subs is None or subs.pop(sub.socket_id, None) is None:
            return False
        if subs:
            return False
        del self._subs[key]
        return not self._occupied(app_id, channel)

    def is_subscribed(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Whether ``sub`` is on ``channel``."""
        return sub.socket_id in self._subs.get((app_id, channel, sub.wire), ())

    def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many local connections are on ``channel``."""
        subs = self._subs
        return sum(len(subs.get((app_id, channel, wire), ())) for wire in self._wires)

    def channels(self, app_id: AppId) -> dict[ChannelName, int]:
        """Every occupied channel of ``app_id`` with its local subscription count."""
        counts: dict[ChannelName, int] = {}
        for (app, channel, _), subs in self._subs.items():
            if app == app_id:
                counts[channel] = counts.get(channel, 0) + len(subs)
        return counts

    def all_counts(self) -> dict[tuple[AppId, ChannelName], int]:
        """Every occupied (app, channel) with its local subscription count."""
        counts: dict[tuple[AppId, ChannelName], int] = {}
        for (app, channel, _), subs in self._subs.items():
            key = (app, channel)
            counts[key] = counts.get(key, 0) + len(subs)
        return counts

    def subscribers(self, app_id: AppId, channel: ChannelName) -> Iterator[Subscriber]:
        """The local subscribers of ``channel`` (a snapshot-safe iteration is the caller's duty)."""
        for wire in self._wires:
            yield from self._subs.get((app_id, channel, wire), {}).values()

    def deliver(self, pub: Publication) -> int:
        """Fan ``pub`` out to local subscribers, skipping ``pub.socket_id``.

        Returns:
            How many connections the frame was queued to.
        """
        excluded = pub.socket_id
        delivered = 0
        for wire in self._wires:
            subs = self._subs.get((pub.app_id, pub.channel, wire))
            if not subs:
                continue
            frame = self._encoders[wire](pub)
            # No snapshot needed: send_frame only buffers, it cannot change ``subs``.
            for socket_id, sub in subs.items():
                if socket_id != excluded:
                    sub.send_frame(frame)
                    delivered += 1
        return delivered
