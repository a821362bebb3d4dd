"""The ``PresenceStore`` contract, run over every implementation in ``PRESENCE_FACTORIES``."""

from __future__ import annotations

import asyncio

import pytest

from tidings.broker.base import PresenceFull, PresenceStore
from tidings.domain.messages import Member
from tidings.typing import AppId, ChannelName, NodeId, SocketId, UserId

APP = AppId("1")
OTHER_APP = AppId("2")
ROOM = ChannelName("presence-room")
OTHER_ROOM = ChannelName("presence-hall")
ALICE = UserId("alice")
BOB = UserId("bob")
S1, S2, S3 = SocketId("1.1"), SocketId("1.2"), SocketId("2.1")


def member(user_id: UserId, info: object = None) -> Member:
    return Member(user_id=user_id, info=info, node_id=NodeId("node-a"))


async def test_empty_channel(presence: PresenceStore) -> None:
    """A channel nobody joined has no members and a count of zero."""
    assert await presence.members(APP, ROOM) == {}
    assert await presence.count(APP, ROOM) == 0


async def test_add_reports_first_connection_only(presence: PresenceStore) -> None:
    """``add`` is True for a user's first socket, False for its second."""
    assert await presence.add(APP, ROOM, S1, member(ALICE)) is True
    assert await presence.add(APP, ROOM, S2, member(ALICE)) is False
    assert await presence.count(APP, ROOM) == 1


async def test_two_sockets_one_user_is_one_member(presence: PresenceStore) -> None:
    """Several connections of one user make one member."""
    await presence.add(APP, ROOM, S1, member(ALICE, {"name": "Alice"}))
    await presence.add(APP, ROOM, S2, member(ALICE, {"name": "Alice"}))
    assert await presence.members(APP, ROOM) == {ALICE: {"name": "Alice"}}


async def test_remove_reports_last_connection_only(presence: PresenceStore) -> None:
    """``remove`` is True only when the user's last socket leaves."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    await presence.add(APP, ROOM, S2, member(ALICE))
    assert await presence.remove(APP, ROOM, S1, ALICE) is False
    assert await presence.members(APP, ROOM) == {ALICE: None}
    assert await presence.remove(APP, ROOM, S2, ALICE) is True
    assert await presence.members(APP, ROOM) == {}
    assert await presence.count(APP, ROOM) == 0


async def test_remove_unknown_socket_is_false(presence: PresenceStore) -> None:
    """Removing a socket that never joined (or left already) reports nothing and keeps others."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    assert await presence.remove(APP, ROOM, S3, BOB) is False
    assert await presence.remove(APP, ROOM, S1, ALICE) is True
    assert await presence.remove(APP, ROOM, S1, ALICE) is False


async def test_add_same_socket_twice_is_idempotent(presence: PresenceStore) -> None:
    """Re-adding one socket does not make it count twice."""
    assert await presence.add(APP, ROOM, S1, member(ALICE)) is True
    assert await presence.add(APP, ROOM, S1, member(ALICE)) is False
    assert await presence.remove(APP, ROOM, S1, ALICE) is True
    assert await presence.count(APP, ROOM) == 0


async def test_members_carry_user_info(presence: PresenceStore) -> None:
    """``members`` maps each user id to the ``user_info`` it joined with (any JSON value)."""
    await presence.add(APP, ROOM, S1, member(ALICE, {"name": "Alice", "tags": [1, 2]}))
    await presence.add(APP, ROOM, S3, member(BOB, "just a string"))
    assert await presence.members(APP, ROOM) == {
        ALICE: {"name": "Alice", "tags": [1, 2]},
        BOB: "just a string",
    }
    assert await presence.count(APP, ROOM) == 2


async def test_member_without_info(presence: PresenceStore) -> None:
    """A member whose auth carried no ``user_info`` has ``None``."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    assert await presence.members(APP, ROOM) == {ALICE: None}


async def test_channels_are_isolated(presence: PresenceStore) -> None:
    """Members of one channel are not members of another channel of the same app."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    await presence.add(APP, OTHER_ROOM, S3, member(BOB))
    assert await presence.members(APP, ROOM) == {ALICE: None}
    assert await presence.members(APP, OTHER_ROOM) == {BOB: None}
    assert await presence.remove(APP, OTHER_ROOM, S1, ALICE) is False
    assert await presence.count(APP, ROOM) == 1


async def test_apps_are_isolated(presence: PresenceStore) -> None:
    """The same channel name in another app has its own members."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    assert await presence.add(OTHER_APP, ROOM, S2, member(ALICE)) is True
    assert await presence.remove(APP, ROOM, S1, ALICE) is True
    assert await presence.members(OTHER_APP, ROOM) == {ALICE: None}
    assert await presence.members(APP, ROOM) == {}


async def test_members_is_a_snapshot(presence: PresenceStore) -> None:
    """Mutating the returned dict does not change the store."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    snapshot = await presence.members(APP, ROOM)
    snapshot[BOB] = None
    assert await presence.members(APP, ROOM) == {ALICE: None}


async def test_limit_refuses_a_new_user_and_records_nothing(presence: PresenceStore) -> None:
    """At ``limit`` members a new user is refused (``PresenceFull``); members may add sockets."""
    await presence.add(APP, ROOM, S1, member(ALICE), limit=1)
    with pytest.raises(PresenceFull) as refused:
        await presence.add(APP, ROOM, S3, member(BOB), limit=1)
    assert refused.value.limit == 1
    assert await presence.members(APP, ROOM) == {ALICE: None}
    assert await presence.add(APP, ROOM, S2, member(ALICE), limit=1) is False  # a 2nd socket
    assert await presence.remove(APP, ROOM, S3, BOB) is False  # nothing was recorded for Bob


async def test_concurrent_adds_cannot_pass_the_limit_together(presence: PresenceStore) -> None:
    """Ten users racing for the last place: exactly one gets it (the check is part of the add)."""
    await presence.add(APP, ROOM, S1, member(ALICE), limit=2)
    users = [UserId(f"u{i}") for i in range(10)]
    results = await asyncio.gather(
        *(
            presence.add(APP, ROOM, SocketId(f"9.{i}"), member(u), limit=2)
            for i, u in enumerate(users)
        ),
        return_exceptions=True,
    )
    assert sum(result is True for result in results) == 1
    assert sum(isinstance(result, PresenceFull) for result in results) == 9
    assert await presence.count(APP, ROOM) == 2


async def test_present_tells_which_users_are_members(presence: PresenceStore) -> None:
    """``present`` answers which of the given users are members, in the order asked."""
    await presence.add(APP, ROOM, S1, member(ALICE))
    await presence.add(APP, ROOM, S2, member(BOB))
    await presence.add(APP, OTHER_ROOM, S3, member(UserId("carol")))
    carol, nobody = UserId("carol"), UserId("nobody")
    assert await presence.present(APP, ROOM, [BOB, nobody, carol, ALICE]) == [BOB, ALICE]
    assert await presence.present(APP, ROOM, []) == []
    assert await presence.present(OTHER_APP, ROOM, [ALICE]) == []
    await presence.remove(APP, ROOM, S2, BOB)
    assert await presence.present(APP, ROOM, [BOB, ALICE]) == [ALICE]
