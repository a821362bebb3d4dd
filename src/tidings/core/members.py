"""The node's presence announcements: members coming, going, and coming back.

``Node`` inherits these. The contract: ``member_added`` / ``member_removed``
travel through the broker once per user and channel (not per connection), with
a ``MemberAdded`` / ``MemberRemoved`` event on the bus; the users channel
(``pusher:signin``) announces online / offline instead. Each delivered member
change carries the channel's roster as it stands (``_with_roster``), read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from tidings.domain import events
from tidings.domain.channels import USERS_CHANNEL
from tidings.domain.messages import Member, MemberJoined, MemberLeft
from tidings.typing import AppId, ChannelName, SocketId, UserId

if TYPE_CHECKING:
    from tidings.broker.base import Broker, DeadMember
    from tidings.core.bus import EventBus
    from tidings.core.presence import PresenceKeeper
    from tidings.core.registry import Connection
    from tidings.core.users import UserTracker

__all__ = ["NodeMembers"]


class NodeMembers:
    """Presence announcements (mixed into ``Node``, which sets these attributes)."""

    broker: Broker
    bus: EventBus
    presence: PresenceKeeper
    users: UserTracker

    async def resync_presence(self) -> None:
        """Add this node's presence members to the store again (after it lost them).

        A user the store had dropped (peers saw this node as dead) is announced
        with ``member_added`` again. Removals that failed while the store was
        unreachable are retried first, with ``member_removed`` for a user's last.
        """
        gone, back = await self.presence.resync()
        await self.members_gone(gone)
        for app_id, channel, member in back:
            if channel == USERS_CHANNEL:
                await self.users.announce(app_id, member.user_id, online=True)
            else:
                await self._member_joined(app_id, channel, member, None)

    async def members_gone(self, gone: Iterable[DeadMember]) -> None:
        """Announce users whose last connection left (here, or on a dead node)."""
        for app_id, channel, user_id in gone:
            if channel == USERS_CHANNEL:  # a user's last signed-in connection
                await self.users.announce(app_id, user_id, online=False)
                continue
            await self.broker.publish(MemberLeft(app_id, channel, user_id))
            self.bus.emit(events.MemberRemoved(app_id, channel, user_id))

    async def _member_joined(
        self, app_id: AppId, channel: ChannelName, member: Member, socket_id: SocketId | None
    ) -> None:
        await self.broker.publish(
            MemberJoined(app_id, channel, member.user_id, member.info, socket_id)
        )
        self.bus.emit(events.MemberAdded(app_id, channel, member.user_id, member.info))

    async def _leave_presence(self, conn: Connection, channel: ChannelName, uid: UserId) -> None:
        if await self.presence.leave(conn.app.id, channel, conn.socket_id, uid):
            await self.members_gone([(conn.app.id, channel, uid)])

    def _with_roster(self, message: MemberJoined | MemberLeft) -> MemberJoined | MemberLeft:
        roster = self.presence.roster(message.app_id, message.channel)
        if roster is None:
            return message
        # A read-only view, valid during this synchronous delivery.
        members = MappingProxyType(roster)
        if type(message) is MemberJoined:
            roster[message.user_id] = message.info
            return replace(message, members=members)
        info = roster.pop(message.user_id, None)
        return replace(message, members=members, info=info)
