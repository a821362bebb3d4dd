"""This node's side of presence: joining and leaving through the store, and what to redo.

``PresenceKeeper`` wraps the ``PresenceStore`` with the rules the node needs:

- a join checks the member limit atomically in the store (two nodes cannot race
  past it) and remembers the member, to add it again if the store lost it;
- a leave the store refused (unreachable) is remembered and retried by
  :meth:`PresenceKeeper.resync`;
- a *roster* per presence channel with local subscribers: the members as this
  node last knew them, kept up to date by the member messages it delivers, so
  a wire that sends the whole member list with each change (PieSocket) encodes
  it once per channel instead of once per subscriber.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog

from tidings.broker.base import DeadMember, PresenceFull, PresenceStore
from tidings.domain.messages import Member
from tidings.errors import SubscriptionError, TidingsError
from tidings.typing import AppId, ChannelName, SocketId, UserId

__all__ = ["PresenceKeeper"]

_Key = tuple[AppId, ChannelName]
_T = TypeVar("_T")
log = structlog.get_logger(__name__)


class PresenceKeeper:
    """Presence bookkeeping of one node over a shared ``PresenceStore``.

    Args:
        store: where members live (memory, or Redis for a cluster).
    """

    def __init__(self, store: PresenceStore) -> None:
        self.store = store
        # This node's members, to add again after the store lost them.
        self._local: dict[_Key, dict[SocketId, Member]] = {}
        # Removals the store refused (unreachable): retried by resync.
        self._failed: set[tuple[AppId, ChannelName, SocketId, UserId]] = set()
        self._rosters: dict[_Key, dict[str, Any]] = {}

    async def join(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, member: Member, limit: int
    ) -> tuple[bool, dict[str, Any]]:
        """Add a connection's member; ``(first connection of the user, every member)``.

        The members are read after the add, so they include ``member``; they
        become the channel's roster.

        Raises:
            SubscriptionError: ``LimitReached`` when the channel is full,
                ``ServiceUnavailable`` when the store cannot be reached.
        """
        try:
            added = await self._call(
                self.store.add(app_id, channel, socket_id, member, limit=limit)
            )
        except PresenceFull as exc:
            raise SubscriptionError(
                f"presence channel {channel} is full ({exc.limit} members)",
                kind="LimitReached",
                status=4100,
            ) from None
        self._local.setdefault((app_id, channel), {})[socket_id] = member
        members = await self.members(app_id, channel)
        self._rosters[(app_id, channel)] = dict(members)
        return added, members

    async def track(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, member: Member
    ) -> bool:
        """Add a connection's member with no limit and no member read (internal sets).

        Returns ``True`` for the user's first connection. An unreachable store
        returns ``False``: the member is remembered all the same, so
        :meth:`resync` adds it (and the node announces it) once the store is back.
        """
        self._local.setdefault((app_id, channel), {})[socket_id] = member
        try:
            return await self.store.add(app_id, channel, socket_id, member)
        except TidingsError as exc:
            log.warning("presence add failed; retried later", reason=exc.message)
            return False

    async def leave(
        self, app_id: AppId, channel: ChannelName, socket_id: SocketId, user_id: UserId
    ) -> bool:
        """Remove a connection's member; ``True`` when it was the user's last connection.

        An unreachable store returns ``False``; the removal is retried by
        :meth:`resync` (which then reports the user if it was its last).
        """
        key = (app_id, channel)
        local = self._local.get(key)
        if local is not None and local.pop(socket_id, None) is not None and not local:
            del self._local[key]
        try:
            return await self.store.remove(app_id, channel, socket_id, user_id)
        except TidingsError as exc:
            # Logged once per outage, not once per leaving member.
            if not self._failed:
                log.warning("presence remove failed; retried later", reason=exc.message)
            self._failed.add((app_id, channel, socket_id, user_id))
            return False

    async def resync(self) -> tuple[list[DeadMember], list[tuple[AppId, ChannelName, Member]]]:
        """Retry failed removals, then add this node's members to the store again.

        Returns:
            The users whose last connection the retried removals took away, and
            the members the store had lost (peers saw this node as dead): the
            node announces both.
        """
        gone: list[DeadMember] = []
        unreachable: TidingsError | None = None
        for removal in list(self._failed):
            app_id, channel, socket_id, user_id = removal
            try:
                last = await self.store.remove(app_id, channel, socket_id, user_id)
            except TidingsError as exc:  # one shard of several may still be down
                unreachable = exc
                continue
            self._failed.discard(removal)
            if last:
                gone.append((app_id, channel, user_id))
        back: list[tuple[AppId, ChannelName, Member]] = []
        for (app_id, channel), members in list(self._local.items()):
            for socket_id, member in list(members.items()):
                try:
                    if await self.store.add(app_id, channel, socket_id, member):
                        back.append((app_id, channel, member))
                except TidingsError as exc:
                    unreachable = exc
        if unreachable is not None:
            # The others are back: announce them; the rest follows when its shard returns
            # (its recovery calls this again).
            log.warning("presence resync incomplete", reason=unreachable.message)
        return gone, back

    @property
    def pending_removals(self) -> int:
        """How many removals the store refused and :meth:`resync` will retry."""
        return len(self._failed)

    async def members(self, app_id: AppId, channel: ChannelName) -> dict[str, Any]:
        """Every member of the channel (as ``join`` reads them).

        Raises:
            SubscriptionError: ``ServiceUnavailable`` when the store cannot be reached.
        """
        stored = await self._call(self.store.members(app_id, channel))
        return {user: info for user, info in stored.items()}

    def roster(self, app_id: AppId, channel: ChannelName) -> dict[str, Any] | None:
        """The channel's members as this node knows them, or ``None`` (no local subscriber)."""
        return self._rosters.get((app_id, channel))

    def forget_roster(self, app_id: AppId, channel: ChannelName) -> None:
        """The channel has no local subscriber left: stop tracking its members."""
        self._rosters.pop((app_id, channel), None)

    async def _call(self, call: Awaitable[_T]) -> _T:
        """Await a store call; an unreachable store refuses the subscription."""
        try:
            return await call
        except TidingsError as exc:
            raise SubscriptionError(
                f"presence is unavailable right now: {exc.message}",
                kind="ServiceUnavailable",
                status=503,
            ) from exc
