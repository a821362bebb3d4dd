"""Webhooks of a cluster: each event once over two nodes, a kill -9 loses nothing, and
SIGTERM flushes pending deliveries within the grace period."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
import websockets

from tests.fixtures.webhooks import Received, Receiver, has, webhook_json
from tests.integration.conftest import KEY, STEADY_TTL, TIMEOUT, PusherClient, ServerFactory
from tests.support.redis import delete_redis_keys
from tests.support.serve import ServeProcess, StartServe
from tests.support.timing import bound
from tests.support.waiting import eventually
from tidings.server.runner import RunningServer
from tidings.webhooks.cluster import ClusterDuties

#: cluster_heartbeat_ttl of nodes a test kills: the survivor finds them dead within 4/3 x TTL.
TTL = 1.5
NodeFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test only; its keys are deleted afterwards."""
    name = f"test-wh-{uuid.uuid4().hex[:8]}"
    yield name
    delete_redis_keys(redis_url, name)


@pytest.fixture
def nodes(server_factory: ServerFactory, redis_url: str, prefix: str) -> NodeFactory:
    """In-process nodes sharing this test's Redis prefix."""

    async def start(ttl: float = TTL, **overrides: Any) -> RunningServer:
        return await server_factory(
            broker_url=redis_url, redis_prefix=prefix, cluster_heartbeat_ttl=ttl, **overrides
        )

    return start


async def connect(url: str) -> PusherClient:
    ws = await websockets.connect(f"{url}/app/{KEY}?protocol=7")
    first = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return PusherClient(ws, orjson.loads(first["data"])["socket_id"], {})


def member(user_id: str) -> str:
    return json.dumps({"user_id": user_id})


async def settled(*servers: RunningServer) -> None:
    """Wait (bounded) until no node has unsettled deliveries or batched events."""

    def idle() -> bool:
        return all(
            not s.webhooks.pending() and s.webhooks.batcher.next_due() is None for s in servers
        )

    await eventually(idle, 15, "webhook deliveries settled")


async def occupancy_applied(*servers: RunningServer) -> None:
    """Wait (bounded) until every node wrote its queued occupancy changes to Redis.

    A node applies its own changes a few milliseconds after they happen, and two nodes'
    changes closer together than that reach Redis in either order (docs/webhooks.md): a
    test asserting occupied/vacated exactly once separates its steps with this.
    """
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    for server in servers:
        duties = server.webhooks.duties
        assert isinstance(duties, ClusterDuties)
        await duties.drain(deadline)


async def failed_once(node: RunningServer) -> Any:
    """The one delivery of ``node``'s log once it has failed an attempt (bounded wait)."""

    async def attempted() -> bool:
        logged = await node.webhooks.recent("1", 10)
        return bool(logged) and logged[0].attempts >= 1

    await eventually(attempted, 15, "a delivery attempt failed")
    (failing,) = await node.webhooks.recent("1", 10)
    return failing


def tally(receiver: Receiver, channel: str) -> Counter[tuple[str, str | None]]:
    return Counter(
        (e["name"], e.get("user_id")) for e in receiver.events() if e["channel"] == channel
    )


async def test_two_nodes_send_each_event_once(nodes: NodeFactory, receiver: Receiver) -> None:
    """Occupied/vacated on the cluster's 0<->1, a user's first/last connection anywhere, one
    client event: each once, though both nodes saw the channel; the log is shared."""
    hooks = webhook_json(receiver.url())
    a = await nodes(STEADY_TTL, admin_port=0, default_app_webhooks=hooks)
    b = await nodes(STEADY_TTL, default_app_webhooks=hooks)
    on_a = await connect(a.ws_url)
    on_b = await connect(b.ws_url)
    other_b = await connect(b.ws_url)
    await on_a.subscribe("presence-room", channel_data=member("u1"))
    await receiver.wait_for(has("channel_occupied", "presence-room"))
    await on_b.subscribe("presence-room", channel_data=member("u1"))  # same user, other node
    await other_b.subscribe("presence-room", channel_data=member("u2"))
    await on_a.send("client-hi", {"x": 1}, channel="presence-room")
    await receiver.wait_for(has("client_event", "presence-room"))
    await on_a.ws.close()  # a vacates locally; b still holds the channel
    await on_b.ws.close()  # u1's last connection
    await receiver.wait_for(lambda ev: ("member_removed", "u1") in tally(receiver, "presence-room"))
    await other_b.ws.close()
    await receiver.wait_for(has("channel_vacated", "presence-room"))
    barrier = await connect(a.ws_url)  # a later event: everything earlier was sent by now
    await barrier.subscribe("barrier")
    await receiver.wait_for(has("channel_occupied", "barrier"))
    await settled(a, b)
    await barrier.ws.close()
    assert tally(receiver, "presence-room") == Counter(
        {
            ("channel_occupied", None): 1,
            ("member_added", "u1"): 1,
            ("member_added", "u2"): 1,
            ("client_event", "u1"): 1,
            ("member_removed", "u1"): 1,
            ("member_removed", "u2"): 1,
            ("channel_vacated", None): 1,
        }
    )
    assert all(r.body is not None for r in receiver.received)
    deliveries = await a.webhooks.recent("1", 100)
    assert {d.node for d in deliveries} == {a.state.node.node_id, b.state.node.node_id}


async def test_a_node_serves_only_once_it_joined(nodes: NodeFactory, receiver: Receiver) -> None:
    """The first webhook beat and take-back are done when the node starts serving, so its
    first clients' occupancy changes never wait behind the join: applied after the peers'
    later changes, they vacated and occupied again a channel held throughout."""
    node = await nodes(STEADY_TTL, default_app_webhooks=webhook_json(receiver.url()))
    duties = node.webhooks.duties
    assert isinstance(duties, ClusterDuties) and duties.joined


async def start_node_process(
    serve: StartServe, redis_url: str, prefix: str, webhooks: str, **env: str
) -> ServeProcess:
    """A `tidings serve` process in the cluster, serving."""
    environment = {
        "TIDINGS_BROKER_URL": redis_url,
        "TIDINGS_REDIS_PREFIX": prefix,
        "TIDINGS_CLUSTER_HEARTBEAT_TTL": str(TTL),
        "TIDINGS_DEFAULT_APP_WEBHOOKS": webhooks,
        **env,
    }
    return await serve(environment)


async def test_kill_9_loses_neither_events_nor_pending_deliveries(
    nodes: NodeFactory, receiver: Receiver, redis_url: str, prefix: str, serve: StartServe
) -> None:
    """A node killed with -9 while its deliveries fail: the survivor sends them once the
    receiver is back, and sends the dead node's member_removed and channel_vacated, once each."""
    down = True
    receiver.answer = lambda _: 503 if down else 200
    hooks = webhook_json(receiver.url())
    survivor = await nodes(default_app_webhooks=hooks)
    proc = await start_node_process(serve, redis_url, prefix, hooks)
    doomed = await connect(proc.ws_url)
    await doomed.subscribe("presence-x", channel_data=member("doomed"))
    failing = await failed_once(survivor)  # the victim's delivery waits in Redis
    assert failing.status == "retrying" and failing.node != survivor.state.node.node_id
    await proc.kill()
    down = False
    await receiver.wait_for(has("channel_vacated", "presence-x"), timeout=TTL * 4 + 10)
    await receiver.wait_for(has("channel_occupied", "presence-x"), timeout=10)
    watcher = await connect(survivor.ws_url)
    await watcher.subscribe("barrier")
    await receiver.wait_for(has("channel_occupied", "barrier"))
    await settled(survivor)
    await watcher.ws.close()
    assert tally(receiver, "presence-x") == Counter(
        {
            ("channel_occupied", None): 1,
            ("member_added", "doomed"): 1,
            ("member_removed", "doomed"): 1,
            ("channel_vacated", None): 1,
        }
    )
    taken = next(d for d in await survivor.webhooks.recent("1", 10) if d.id == failing.id)
    assert taken.status == "sent" and taken.node == survivor.state.node.node_id
    ids = [r.headers["X-Tidings-Delivery"] for r in receiver.received]
    assert ids.count(failing.id) == 1
    assert all(r.body is not None for r in receiver.received)


@pytest.mark.timing
async def test_sigterm_flushes_pending_deliveries_within_the_grace_period(
    receiver: Receiver, serve: StartServe
) -> None:
    """SIGTERM while a delivery waits for its next retry: it is sent at once (with the
    channel_vacated the shutdown causes), before the process exits 0. (Sooner than the
    4 s backoff would allow: asserted by make reliability.)"""
    attempts: list[float] = []
    down = True

    def answer(got: Received) -> int:
        if down:
            attempts.append(got.at)
            return 503
        return 200

    receiver.answer = answer
    env = {
        "TIDINGS_SHUTDOWN_GRACE_PERIOD": "5",
        "TIDINGS_DEFAULT_APP_WEBHOOKS": webhook_json(receiver.url()),
    }
    proc = await serve(env)
    c = await connect(proc.ws_url)
    await c.subscribe("news")
    # Attempts at 0, 1 and 3 s fail; the next is due at 7 s.
    await eventually(lambda: len(attempts) >= 3, 15, "three failed attempts")
    down = False
    proc.terminate()
    await receiver.wait_for(has("channel_vacated", "news"), timeout=15)
    events = await receiver.wait_for(has("channel_occupied", "news"), timeout=15)
    assert Counter(e["name"] for e in events) == {"channel_occupied": 1, "channel_vacated": 1}
    delivered = max(r.at for r in receiver.received)
    # The outcome: delivered before the 4 s backoff was due (attempts[-1] + 4 s)...
    assert delivered < attempts[-1] + 4.0
    assert await proc.wait(15) == 0
    # ...and with a margin (a busy machine can eat it; make reliability asserts it).
    bound("SIGTERM flush after the last failed attempt", delivered - attempts[-1], 3.5)


async def test_sigterm_in_a_cluster_hands_what_is_left_to_a_survivor(
    nodes: NodeFactory, receiver: Receiver, redis_url: str, prefix: str, serve: StartServe
) -> None:
    """A node stopped with SIGTERM while its receiver is down leaves its deliveries in Redis
    and stops beating: a survivor sends them once the receiver is back."""
    down = True
    receiver.answer = lambda _: 503 if down else 200
    hooks = webhook_json(receiver.url())
    survivor = await nodes(default_app_webhooks=hooks)
    proc = await start_node_process(
        serve, redis_url, prefix, hooks, TIDINGS_SHUTDOWN_GRACE_PERIOD="1"
    )
    leaving = await connect(proc.ws_url)
    await leaving.subscribe("orders")
    failing = await failed_once(survivor)
    assert await proc.stop(15) == 0
    down = False
    await receiver.wait_for(has("channel_vacated", "orders"), timeout=TTL * 4 + 10)
    await receiver.wait_for(has("channel_occupied", "orders"), timeout=10)
    await settled(survivor)
    assert tally(receiver, "orders") == Counter(
        {("channel_occupied", None): 1, ("channel_vacated", None): 1}
    )
    taken = next(d for d in await survivor.webhooks.recent("1", 10) if d.id == failing.id)
    assert taken.status == "sent" and taken.node == survivor.state.node.node_id
