"""The node over the memory broker and presence store, with recording connections: the
ordering rules, the lifecycle events and the cluster-facing bookkeeping, without sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.unit.core.conftest import FakeConnection
from tidings.apps.base import App
from tidings.apps.static import StaticAppStore
from tidings.broker.memory import MemoryBroker, MemoryPresenceStore
from tidings.core.hub import Hub
from tidings.core.node import Node
from tidings.domain import events
from tidings.domain.channels import USERS_CHANNEL
from tidings.domain.messages import Member, Message, Publication, WatchlistEvent
from tidings.errors import SubscriptionError
from tidings.typing import AppId, AppKey, ChannelName, NodeId, SocketId, UserId
from tidings.web.eager import start_eagerly
from tidings.wires.piesocket import PIESOCKET_MEMBERS, member_frame

APP = App(id=AppId("1"), key=AppKey("k"), secret="s", max_presence_members=3)
NEWS, ROOM, CACHE = ChannelName("news"), ChannelName("presence-room"), ChannelName("cache-x")


def text_encoder(message: Message) -> bytes | None:
    """Frames as readable JSON of the message type and its fields that matter here."""
    kind = type(message).__name__
    if isinstance(message, Publication):
        return orjson.dumps([kind, message.event, message.data])
    if isinstance(message, WatchlistEvent):
        return orjson.dumps([kind, message.name, message.user_ids])
    return orjson.dumps([kind, getattr(message, "user_id", None)])


class GatedBroker(MemoryBroker):
    """The memory broker with a subscribe that waits for the test, counting calls."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.listening: set[tuple[str, str]] = set()

    async def subscribe(self, app_id: AppId, channel: ChannelName) -> None:
        await self.gate.wait()
        self.listening.add((app_id, channel))
        await super().subscribe(app_id, channel)

    async def unsubscribe(self, app_id: AppId, channel: ChannelName) -> None:
        self.listening.discard((app_id, channel))
        await super().unsubscribe(app_id, channel)


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    made = Node(
        node_id=NodeId("n1"),
        apps=StaticAppStore([APP]),
        broker=GatedBroker(),
        presence=MemoryPresenceStore(),
        hub=Hub({"test": text_encoder, PIESOCKET_MEMBERS: member_frame}),
    )
    await made.start()
    yield made
    await made.close()


def conn(n: int, encoding: str = "test") -> FakeConnection:
    return FakeConnection(SocketId(f"1.{n}"), app=APP, encoding=encoding)


def record(node: Node) -> list[Any]:
    seen: list[Any] = []
    for kind in events.EVENT_TYPES:
        node.bus.on(kind, seen.append)
    return seen


async def test_occupied_and_vacated_follow_the_local_subscribers(node: Node) -> None:
    seen = record(node)
    a, b = conn(1), conn(2)
    for c in (a, b):
        node.attach(c)
        await node.subscribe(c, NEWS)
    await node.detach(a, [(NEWS, None)])
    await node.detach(b, [(NEWS, None)])
    kinds = [type(e).__name__ for e in seen]
    assert kinds.count("ChannelOccupied") == 1 and kinds.count("ChannelVacated") == 1
    assert kinds.index("ChannelOccupied") < kinds.index("ChannelVacated")
    assert kinds.count("ConnectionOpened") == kinds.count("ConnectionClosed") == 2


async def test_member_added_and_removed_once_per_user(node: Node) -> None:
    """Two connections of one user: one member_added, one member_removed, on the bus and wire."""
    seen = record(node)
    first, second, watcher = conn(1), conn(2), conn(3)
    await node.subscribe(watcher, ROOM, Member(UserId("w")))
    await node.subscribe(first, ROOM, Member(UserId("ann"), {"n": 1}))
    await node.subscribe(second, ROOM, Member(UserId("ann"), {"n": 1}))
    await node.unsubscribe(first, ROOM, "ann")
    await node.unsubscribe(second, ROOM, "ann")
    added = [e for e in seen if isinstance(e, events.MemberAdded) and e.user_id == "ann"]
    removed = [e for e in seen if isinstance(e, events.MemberRemoved)]
    assert [e.info for e in added] == [{"n": 1}]
    assert [e.user_id for e in removed] == ["ann"]
    assert [orjson.loads(f) for f in watcher.frames] == [
        ["MemberJoined", "ann"],
        ["MemberLeft", "ann"],
    ]


async def test_presence_limit_refuses_and_reports(node: Node) -> None:
    seen = record(node)
    for n, user in enumerate(("a", "b", "c")):
        await node.subscribe(conn(n), ROOM, Member(UserId(user)))
    with pytest.raises(SubscriptionError) as refused:
        await node.subscribe(conn(9), ROOM, Member(UserId("d")))
    assert refused.value.kind == "LimitReached"
    assert any(isinstance(e, events.SubscriptionRefused) for e in seen)
    assert await node.user_count(APP.id, ROOM) == 3


async def test_client_messages_are_marked_and_never_cached(node: Node) -> None:
    """A client's message on a cache channel is relayed but never becomes the cached event."""
    seen = record(node)
    sender, other = conn(1), conn(2)
    for c in (sender, other):
        await node.subscribe(c, CACHE)
    await node.publish(Publication(APP.id, CACHE, "server-event", '"1"'))
    forged = Publication(APP.id, CACHE, "forged", '"2"', socket_id=sender.socket_id)
    await node.publish_from_client(sender.socket_id, forged)
    assert orjson.loads(other.frames[-1]) == ["Publication", "forged", '"2"']
    cached = await node.broker.last_event(APP.id, CACHE)
    assert cached is not None and cached.event == "server-event"
    sent = [e for e in seen if isinstance(e, events.ClientEventSent)]
    assert [(e.event, e.socket_id) for e in sent] == [("forged", sender.socket_id)]
    late = conn(3)
    result = await node.subscribe(late, CACHE)
    assert result.cached is not None and result.cached.event == "server-event"


async def test_cache_miss_is_an_event(node: Node) -> None:
    seen = record(node)
    result = await node.subscribe(conn(1), ChannelName("cache-empty"))
    assert result.cache_miss
    assert any(isinstance(e, events.CacheMissed) for e in seen)


async def test_leaving_while_the_broker_subscribes_stops_listening(node: Node) -> None:
    """The last subscriber leaves before the broker confirmed: the broker is unsubscribed after."""
    broker = node.broker
    assert isinstance(broker, GatedBroker)
    broker.gate.clear()
    c = conn(1)
    joining = asyncio.create_task(node.subscribe(c, NEWS))
    await asyncio.sleep(0)  # the subscribe is waiting on the broker
    await node.unsubscribe(c, NEWS)
    broker.gate.set()
    await joining
    assert broker.listening == set()


async def test_subscribers_stepped_eagerly_wait_for_one_broker_subscribe(node: Node) -> None:
    """Several subscribes started eagerly (as the WebSocket shell does) while the first one's
    broker subscribe is pending: each waits, none fails, and one cancelled waiter does not
    cancel the others' wait (a Redis cluster node; it raised "await wasn't used with future")."""
    broker = node.broker
    assert isinstance(broker, GatedBroker)
    broker.gate.clear()
    conns = [conn(i) for i in range(4)]
    tasks = [start_eagerly(node.subscribe(c, NEWS)) for c in conns]
    assert all(task is not None for task in tasks)
    started = [task for task in tasks if task is not None]
    started[-1].cancel()
    await asyncio.sleep(0)
    broker.gate.set()
    results = await asyncio.gather(*started, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["SubscribeResult"] * 3 + ["CancelledError"]
    assert broker.listening == {(APP.id, NEWS)}
    assert node.hub.count(APP.id, NEWS) == 4


async def test_last_subscriber_leaving_unsubscribes_the_broker(node: Node) -> None:
    broker = node.broker
    assert isinstance(broker, GatedBroker)
    a, b = conn(1), conn(2)
    await node.subscribe(a, NEWS)
    await node.subscribe(b, NEWS)
    await node.unsubscribe(a, NEWS)
    assert broker.listening == {(APP.id, NEWS)}
    await node.unsubscribe(b, NEWS)
    assert broker.listening == set()


async def test_piesocket_member_list_is_encoded_once_per_channel(node: Node) -> None:
    """Two v3 members get the very same ``member_joined`` bytes, with the whole list."""
    v1, v2 = conn(1, PIESOCKET_MEMBERS), conn(2, PIESOCKET_MEMBERS)
    await node.subscribe(v1, ROOM, Member(UserId("v1"), {"uuid": "a"}))
    await node.subscribe(v2, ROOM, Member(UserId("v2"), {"uuid": "b"}))
    newcomer = conn(3)
    await node.subscribe(newcomer, ROOM, Member(UserId("new"), {"uuid": "c"}))
    assert v1.frames[-1] is v2.frames[-1]
    joined = orjson.loads(v1.frames[-1][v1.frames[-1].index(b"{") :])
    assert joined["event"] == "system:member_joined"
    assert sorted(m["user"] for m in joined["data"]["members"]) == ["new", "v1", "v2"]


async def test_terminate_closes_the_users_connections(node: Node) -> None:
    ann, bob = conn(1), conn(2)
    for c, user in ((ann, "ann"), (bob, "bob")):
        node.attach(c)
        await node.sign_in(c, UserId(user))
    assert await node.terminate_user_connections(APP.id, UserId("ann")) == 1
    assert ann.closed is not None and ann.closed[0] == 4009
    assert bob.closed is None


def watch_frames(c: FakeConnection) -> list[list[Any]]:
    return [f for f in map(orjson.loads, c.frames) if f[0] == "WatchlistEvent"]


async def test_watchlist_snapshot_then_first_and_last_connections(node: Node) -> None:
    """The snapshot lists who is online; then online on a user's first connection and
    offline after its last, once each (a second tab changes nothing); the bus sees both."""
    seen: list[events.UserOnline | events.UserOffline] = []
    node.bus.on(events.UserOnline, seen.append)
    node.bus.on(events.UserOffline, seen.append)
    bob, cy1, cy2, ada = conn(1), conn(2), conn(3), conn(4)
    for c in (bob, cy1, cy2, ada):
        node.attach(c)
    await node.sign_in(bob, UserId("bob"))
    await node.sign_in(ada, UserId("ada"), [UserId("bob"), UserId("cy")])
    assert watch_frames(ada) == [["WatchlistEvent", "online", ["bob"]]]
    await node.sign_in(cy1, UserId("cy"))
    await node.sign_in(cy2, UserId("cy"))
    await node.detach(cy1, [])
    assert watch_frames(ada)[1:] == [["WatchlistEvent", "online", ["cy"]]]
    await node.detach(cy2, [])
    await node.detach(bob, [])
    assert watch_frames(ada)[2:] == [
        ["WatchlistEvent", "offline", ["cy"]],
        ["WatchlistEvent", "offline", ["bob"]],
    ]
    assert [(type(e).__name__, e.user_id) for e in seen] == [
        ("UserOnline", "bob"),
        ("UserOnline", "ada"),
        ("UserOnline", "cy"),
        ("UserOffline", "cy"),
        ("UserOffline", "bob"),
    ]
    # Nobody who did not watch cy heard of it.
    assert watch_frames(bob) == watch_frames(cy1) == []


async def test_watchers_leave_their_internal_channels(node: Node) -> None:
    """A watcher's close (or a new watchlist) takes it off the watch channels; they never
    show in channel listings, and nothing of them is announced as occupied."""
    occupied: list[events.Event] = []
    node.bus.on(events.ChannelOccupied, occupied.append)
    ada = conn(1)
    node.attach(ada)
    await node.sign_in(ada, UserId("ada"), [UserId("bob"), UserId("cy")])
    assert len(node.hub.channels(APP.id)) == 2
    assert await node.channels(APP.id) == {}
    await node.sign_in(ada, UserId("ada"), [UserId("cy")])  # again, watching only cy
    assert sorted(node.hub.channels(APP.id)) == ["#tidings-watch-cy"]
    await node.detach(ada, [])
    assert node.hub.channels(APP.id) == {}
    assert occupied == []
    assert await node.presence.store.members(APP.id, USERS_CHANNEL) == {}


async def test_a_dead_nodes_users_go_offline(node: Node) -> None:
    """Users reaped with a dead node are announced offline, not as presence members."""
    ada = conn(1)
    node.attach(ada)
    await node.sign_in(ada, UserId("ada"), [UserId("bob")])
    seen: list[events.Event] = []
    node.bus.on(events.MemberRemoved, seen.append)
    node.bus.on(events.UserOffline, seen.append)
    await node.members_gone([(APP.id, USERS_CHANNEL, UserId("bob"))])
    assert watch_frames(ada)[-1] == ["WatchlistEvent", "offline", ["bob"]]
    assert seen == [events.UserOffline(APP.id, UserId("bob"))]
