"""The embedded broker and presence store: one process only.

``MemoryBroker`` and ``MemoryPresenceStore`` keep everything in this process's
memory. They are the default for a laptop or a single server. With them you
can run one tidings process only; for many nodes use ``RedisBroker`` and
``RedisPresenceStore`` (``tidings.broker.redis``, the ``[redis]`` extra).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import structlog

from tidings.broker.base import Broker, BrokerHandler, DeadMember, PresenceFull, PresenceStore
from tidings.broker.memory_history import DEFAULT_MAX_BYTES, MemoryHistory
from tidings.domain.history import HistoryPage, Retention
from tidings.domain.messages import Control, Member, Message, Publication
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = ["CACHE_TTL_SECONDS", "MemoryBroker", "MemoryPresenceStore"]

#: How long a cache channel keeps its last event: Pusher's 30 minutes.
CACHE_TTL_SECONDS: Final = 30 * 60.0

_Key = tuple[AppId, ChannelName]
_log = structlog.get_logger(__name__)


class MemoryBroker:
    """A broker for one process: ``publish`` calls the handler directly.

    One process only; for many nodes use ``RedisBroker``. Publishing to a
    channel this node did not subscribe to delivers nothing (there is no other
    node to reach) but still stores a publication marked ``cache``.

    Args:
        clock: a monotonic clock in seconds; tests pass a fake one to expire
            cache events without waiting.
        cache_ttl: seconds a cache channel's last event is kept.
        history_max_bytes: the node-wide cap of kept history (see
            :mod:`tidings.broker.memory_history` for the eviction rule).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_ttl: float = CACHE_TTL_SECONDS,
        history_max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if cache_ttl <= 0:
            raise ValueError(f"cache_ttl must be a positive number of seconds, got {cache_ttl!r}")
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._handler: BrokerHandler | None = None
        self._channels: set[_Key] = set()
        # Ordered by expiry: every store re-inserts at the end with the same TTL
        # and the clock is monotonic, so expired entries are always at the front.
        self._last: dict[_Key, tuple[float, Publication]] = {}
        #: Every history channel's ring (public for the metrics and the dashboard).
        self.history_store = MemoryHistory(max_bytes=history_max_bytes, clock=clock)
        self._closed = False

    async def start(self, handler: BrokerHandler) -> None:
        """Register the handler that receives every publication on a subscribed channel."""
        self._handler = handler
        self._closed = False

    async def close(self) -> None:
        """Stop delivering. Idempotent; cache events are kept for a later ``start``."""
        self._closed = True
        self._handler = None
        self._channels.clear()

    async def subscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """Start delivering ``channel``. Not counted: one ``unsubscribe`` undoes any number."""
        self._channels.add((app_id, channel))

    async def unsubscribe(self, app_id: AppId, channel: ChannelName) -> None:
        """Stop delivering ``channel``; a channel that was not subscribed is ignored."""
        self._channels.discard((app_id, channel))

    async def publish(self, message: Message, *, keep: Retention | None = None) -> None:
        """Store a ``cache`` publication, then hand ``message`` to the handler if subscribed.

        With ``keep`` (a publication of the app's backend), it is first given the
        channel's next serial and kept in its ring (see ``Broker``).

        Delivery is synchronous, so order per channel is the order of the calls.
        A handler that raises breaks its contract; the error is logged and the
        publisher is not failed for it (other channels of a batch still go out).

        Raises:
            RuntimeError: when called before ``start`` or after ``close``.
        """
        handler = self._started()
        key = (message.app_id, message.channel)
        if type(message) is Publication:
            if keep is not None and not message.from_client:
                # Serial assigned, kept and (below) delivered in one synchronous step.
                message = self.history_store.append(message, keep)
            if message.cache:
                self._store_last(key, message)
        if key not in self._channels:
            return
        try:
            handler.handle_message(message)
        except Exception:
            _log.exception("broker handler raised", app_id=message.app_id, channel=key[1])

    async def publish_control(self, control: Control) -> None:
        """Hand ``control`` to the handler (this is the only node)."""
        try:
            self._started().handle_control(control)
        except Exception:
            _log.exception("broker control handler raised", command=control.command)

    def _started(self) -> BrokerHandler:
        handler = self._handler
        if handler is None:
            raise RuntimeError(
                "MemoryBroker.publish() called before start() or after close(); "
                "call `await broker.start(handler)` first"
            )
        return handler

    async def last_event(self, app_id: AppId, channel: ChannelName) -> Publication | None:
        """The last ``cache`` publication of ``channel`` younger than ``cache_ttl``, or ``None``."""
        self._drop_expired()
        entry = self._last.get((app_id, channel))
        return None if entry is None else entry[1]

    async def cached(self, app_id: AppId, channel: ChannelName) -> tuple[Publication, float] | None:
        """The last ``cache`` publication of ``channel`` and the seconds it is still kept."""
        self._drop_expired()
        entry = self._last.get((app_id, channel))
        if entry is None:
            return None
        return entry[1], entry[0] - self._clock()

    async def history(
        self, app_id: AppId, channel: ChannelName, after_serial: int, limit: int
    ) -> HistoryPage:
        """The kept events of ``channel`` after ``after_serial`` (see ``Broker.history``)."""
        return self.history_store.read(app_id, channel, after_serial, limit)

    @property
    def healthy(self) -> bool:
        """Always reachable while started: there is no other node."""
        return self._handler is not None

    def _store_last(self, key: _Key, pub: Publication) -> None:
        self._last.pop(key, None)  # re-insert at the end to keep expiry order
        self._last[key] = (self._clock() + self._cache_ttl, pub)
        self._drop_expired()

    def _drop_expired(self) -> None:
        now = self._clock()
        while self._last:
            key, (expires_at, _) = next(iter(self._last.items()))
            if expires_at > now:
                return
            del self._last[key]


@dataclass(slots=True)
class _Presence:
    """One user on one channel: the info of its latest connection and every socket id."""

    info: Any
    sockets: set[SocketId] = field(default_factory=set)


class MemoryPresenceStore:
    """Presence for one process, deduplicated by user id across socket ids.

    One process only; for many nodes use ``RedisPresenceStore``. A user with
    several connections on a channel is one member whose ``user_info`` is the
    one its latest connection signed.
    """

    def __init__(self) -> None:
        self._channels: dict[_Key, dict[UserId, _Presence]] = {}

    async def add(
        self,
        app_id: AppId,
        channel: ChannelName,
        socket_id: SocketId,
        member: Member,
        *,
        limit: int | None = None,
    ) -> bool:
        """Record ``socket_id`` for ``member``; ``True`` when the user was not a member before.

        Adding the same socket twice is idempotent (the second call returns ``False``).

        Raises:
            PresenceFull: a new user on a channel that has ``limit`` members.
        """
        users = self._channels.setdefault((app_id, channel), {})
        presence = users.get(member.user_id)
        if presence is None:
            if limit is not None and len(users) >= limit:
                if not users:
                    del self._channels[(app_id, channel)]
                raise PresenceFull(limit)
            users[member.user_id] = _Presence(member.info, {socket_id})
            return True
        presence.info = member.info
        presence.sockets.add(socket_id)
        return False

    async def remove(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, user_id: UserId
    ) -> bool:
        """Forget ``socket_id``; ``True`` when it was the user's last connection on the channel.

        Removing a socket that was never added (or already removed) returns ``False``.
        """
        key = (app_id, channel)
        users = self._channels.get(key)
        presence = None if users is None else users.get(user_id)
        if users is None or presence is None or socket_id not in presence.sockets:
            return False
        presence.sockets.discard(socket_id)
        if presence.sockets:
            return False
        del users[user_id]
        if not users:
            del self._channels[key]  # empty channels must not pile up
        return True

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[UserId, Any]:
        """Every member of ``channel``: user id → ``user_info`` (a fresh dict)."""
        users = self._channels.get((app_id, channel), {})
        return {user_id: presence.info for user_id, presence in users.items()}

    async def count(self, app_id: AppId, channel: ChannelName) -> int:
        """How many distinct users are on ``channel``."""
        return len(self._channels.get((app_id, channel), ()))

    async def counts(
        self, app_id: AppId, channels: Sequence[ChannelName]
    ) -> dict[ChannelName, int]:
        """How many distinct users are on each of ``channels``."""
        return {channel: len(self._channels.get((app_id, channel), ())) for channel in channels}

    async def present(
        self, app_id: AppId, channel: ChannelName, user_ids: Sequence[UserId]
    ) -> list[UserId]:
        """Which of ``user_ids`` are members of ``channel``, in their order."""
        users = self._channels.get((app_id, channel), {})
        return [user_id for user_id in user_ids if user_id in users]

    async def remove_node(self, node_id: str) -> list[DeadMember]:
        """Nothing to do: this store serves one node, whose members leave one by one."""
        return []


if TYPE_CHECKING:
    _broker_check: type[Broker] = MemoryBroker
    _presence_check: type[PresenceStore] = MemoryPresenceStore
