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


_Key = tuple[AppId, ChannelName]


class Hub:
    """app → channel → wire → {socket id: subscriber}, for this process only.

    Args:
        encoders: one frame encoder per wire protocol the server speaks.
    """

    def __init__(self, encoders: Mapping[Wire, Encoder]) -> None:
        self._encoders = dict(encoders)
        self._channels: dict[_Key, dict[Wire, dict[SocketId, Subscriber]]] = {}

    def add(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Add ``sub`` to ``channel``; ``True`` when it is the channel's first local subscriber."""
        key = (app_id, channel)
        by_wire = self._channels.get(key)
        first = by_wire is None
        if by_wire is None:
            by_wire = self._channels[key] = {}
        by_wire.setdefault(sub.wire, {})[sub.socket_id] = sub
        return first

    def remove(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Remove ``sub``; ``True`` when the channel has no local subscriber left."""
        key = (app_id, channel)
        by_wire = self._channels.get(key)
        if by_wire is None:
            return False
        subs = by_wire.get(sub.wire)
        if subs is None or subs.pop(sub.socket_id, None) is None:
            return False
        if not subs:
            del by_wire[sub.wire]
        if not by_wire:
            del self._channels[key]
            return True
        return False

    def is_subscribed(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Whether ``sub`` is on ``channel``."""
        by_wire = self._channels.get((app_id, channel))
        return by_wire is not None and sub.socket_id in by_wire.get(sub.wire, ())

    def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many local connections are on ``channel``."""
        by_wire = self._channels.get((app_id, channel))
        return sum(len(subs) for subs in by_wire.values()) if by_wire else 0

    def channels(self, app_id: AppId) -> dict[ChannelName, int]:
        """Every occupied channel of ``app_id`` with its local subscription count."""
        return {
            channel: sum(len(subs) for subs in by_wire.values())
            for (app, channel), by_wire in self._channels.items()
            if app == app_id
        }

    def all_counts(self) -> dict[tuple[AppId, ChannelName], int]:
        """Every occupied (app, channel) with its local subscription count."""
        return {
            key: sum(len(subs) for subs in by_wire.values())
            for key, by_wire in self._channels.items()
        }

    def subscribers(self, app_id: AppId, channel: ChannelName) -> Iterator[Subscriber]:
        """The local subscribers of ``channel`` (a snapshot-safe iteration is the caller's duty)."""
        for subs in self._channels.get((app_id, channel), {}).values():
            yield from subs.values()

    def deliver(self, pub: Publication) -> int:
        """Fan ``pub`` out to local subscribers, skipping ``pub.socket_id``.

        Returns:
            How many connections the frame was queued to.
        """
        by_wire = self._channels.get((pub.app_id, pub.channel))
        if not by_wire:
            return 0
        excluded = pub.socket_id
        delivered = 0
        for wire, subs in by_wire.items():
            frame = self._encoders[wire](pub)
            # Iterate a snapshot only when a send could mutate the dict: it
            # cannot (send_frame only buffers), so the live view is safe.
            for socket_id, sub in subs.items():
                if socket_id != excluded:
                    sub.send_frame(frame)
                    delivered += 1
        return delivered
