"""The local index of subscribers and the fan-out hot path.

The hub maps (app, channel) to the connections of THIS process. A message is
encoded once per *encoding* present on the channel (a group of subscribers that
receive the same bytes: one per wire protocol, or more when a wire has kinds of
subscribers that see different frames), and the same bytes object is handed to
every subscriber's ``send_frame``, which only appends to a per-connection buffer
(see ``tidings.web.writer``). No task, no await and no JSON work happen per
subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from tidings.domain.messages import Message
from tidings.typing import AppId, ChannelName, SocketId

__all__ = ["Encoder", "Hub", "Subscriber"]

Encoder = Callable[[Message], bytes | None]
"""Turns a message into one complete WebSocket frame for every subscriber of an
encoding, or ``None`` when those subscribers do not see this message."""


class Subscriber(Protocol):
    """What the hub needs of a connection."""

    @property
    def socket_id(self) -> SocketId: ...

    @property
    def encoding(self) -> str:
        """The name of the encoder whose frames this subscriber gets."""

    def send_frame(self, frame: bytes) -> None:
        """Queue ``frame`` for writing. Must not block, await or raise."""


_Key = tuple[AppId, ChannelName, str]


class Hub:
    """(app, channel, encoding) → {socket id: subscriber}, for this process only.

    Keyed by encoding rather than nested under the channel so that a channel with
    one subscriber (the common case with private channels) costs one small dict;
    a delivery makes one lookup per encoding.

    Args:
        encoders: encoding name → frame encoder, for every encoding a
            subscriber may name (each wire supplies its own).
    """

    def __init__(self, encoders: Mapping[str, Encoder]) -> None:
        self._encoders = dict(encoders)
        self._encodings = tuple(self._encoders)
        self._subs: dict[_Key, dict[SocketId, Subscriber]] = {}

    def _occupied(self, app_id: AppId, channel: ChannelName) -> bool:
        subs = self._subs
        return any((app_id, channel, name) in subs for name in self._encodings)

    def add(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Add ``sub`` to ``channel``; ``True`` when it is the channel's first local subscriber."""
        first = not self._occupied(app_id, channel)
        self._subs.setdefault((app_id, channel, sub.encoding), {})[sub.socket_id] = sub
        return first

    def remove(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Remove ``sub``; ``True`` when the channel has no local subscriber left."""
        key = (app_id, channel, sub.encoding)
        subs = self._subs.get(key)
        if subs is None or subs.pop(sub.socket_id, None) is None:
            return False
        if subs:
            return False
        del self._subs[key]
        return not self._occupied(app_id, channel)

    def current(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> Subscriber | None:
        """What the hub holds on ``channel`` for ``sub``'s socket id (``sub`` or a stand-in)."""
        return self._subs.get((app_id, channel, sub.encoding), {}).get(sub.socket_id)

    def replace(
        self, app_id: AppId, channel: ChannelName, old: Subscriber, new: Subscriber
    ) -> None:
        """Put ``new`` in ``old``'s place if ``old`` is still there (same socket id).

        Safe during a delivery: an existing key gets a new value, the dict keeps its size.
        """
        subs = self._subs.get((app_id, channel, old.encoding))
        if subs is not None and subs.get(old.socket_id) is old:
            subs[old.socket_id] = new

    def is_subscribed(self, app_id: AppId, channel: ChannelName, sub: Subscriber) -> bool:
        """Whether ``sub`` is on ``channel``."""
        return sub.socket_id in self._subs.get((app_id, channel, sub.encoding), ())

    def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many local connections are on ``channel``."""
        subs = self._subs
        return sum(len(subs.get((app_id, channel, name), ())) for name in self._encodings)

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
        for name in self._encodings:
            yield from self._subs.get((app_id, channel, name), {}).values()

    def send_to(self, sub: Subscriber, message: Message) -> bool:
        """Encode ``message`` for ``sub``'s encoding and queue it to ``sub`` alone.

        For what concerns one connection only (a watchlist snapshot). ``False``
        when ``sub``'s encoding does not show the message.
        """
        frame = self._encoders[sub.encoding](message)
        if frame is None:
            return False
        sub.send_frame(frame)
        return True

    def deliver(self, message: Message) -> int:
        """Fan ``message`` out to local subscribers, skipping ``message.socket_id``.

        Returns:
            How many connections a frame was queued to (subscribers whose
            encoding does not carry the message are not counted).
        """
        excluded = message.socket_id
        delivered = 0
        app_id, channel = message.app_id, message.channel
        for name in self._encodings:
            subs = self._subs.get((app_id, channel, name))
            if not subs:
                continue
            frame = self._encoders[name](message)
            if frame is None:
                continue
            # No snapshot needed: send_frame only buffers, it cannot change ``subs``.
            for socket_id, sub in subs.items():
                if socket_id != excluded:
                    sub.send_frame(frame)
                    delivered += 1
        return delivered
