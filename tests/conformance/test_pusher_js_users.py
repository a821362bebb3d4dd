"""pusher-js 8.6 user features against a tidings server: sign-in, the user's own channel.

After ``pusher.signin()`` succeeds, pusher-js subscribes to ``#server-to-user-{id}`` by
itself and hands what arrives there to ``pusher.user.bind()``; the PyPI ``pusher`` SDK's
``send_to_user`` publishes to it. Negative outcomes are proven with a marker event
published afterwards (a connection's events arrive in order), never by waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pusher
import pytest

from tests.conformance.conftest import APP_ID, KEY, SECRET, NodeDriver, StartDriver
from tidings.domain import events
from tidings.server.runner import RunningServer

pytestmark = pytest.mark.node

SCRIPT = "pusher_driver.mjs"


def sdk_for(server: RunningServer) -> Any:
    """The PyPI SDK pointed at the server, as the banner tells users to configure it."""
    return pusher.Pusher(
        app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=server.port, ssl=False
    )


async def signed_in(driver: NodeDriver, client: str, user: dict[str, Any]) -> str:
    """Connect ``client``, sign it in as ``user`` and wait for its own channel; its socket id."""
    await driver.send("connect", client, signin_as=user)
    socket_id = str((await driver.expect("connected", client))["socket_id"])
    await driver.send("signin", client)
    await driver.expect("message", client, event="pusher:signin_success")
    await driver.expect(
        "user_channel",
        client,
        channel=f"#server-to-user-{user['id']}",
        event="pusher_internal:subscription_succeeded",
    )
    return socket_id


async def ada_twice_and_bob(start_driver: StartDriver) -> NodeDriver:
    """A driver with user "ada" signed in on two clients ("ada-1", "ada-2") and "bob" on one."""
    driver = await start_driver(SCRIPT)
    for client in ("ada-1", "ada-2"):
        await signed_in(driver, client, {"id": "ada"})
    await signed_in(driver, "bob", {"id": "bob"})
    return driver


async def test_signin_subscribes_the_users_channel_without_error(
    start_driver: StartDriver,
) -> None:
    """The issue's symptom: after signin() pusher-js subscribes #server-to-user-{id}; no error."""
    driver = await start_driver(SCRIPT)
    await signed_in(driver, "a", {"id": "ada", "user_info": {"name": "Ada"}})
    signin = driver.observed("message", "a", event="pusher:signin_success")[0]
    assert signin["data"] == {"user_data": '{"id":"ada","user_info":{"name":"Ada"}}'}
    assert not driver.observed("user_channel", "a", event="pusher:subscription_error")
    assert not driver.observed("message", "a", event="pusher:error")


async def test_send_to_user_reaches_every_tab_of_that_user_only(
    start_driver: StartDriver, server: RunningServer
) -> None:
    """PyPI send_to_user -> pusher.user.bind on each of the user's connections, nobody else's."""
    driver = await ada_twice_and_bob(start_driver)
    sdk = sdk_for(server)
    assert await asyncio.to_thread(sdk.send_to_user, "ada", "invoice-paid", {"n": 7}) == {}
    for client in ("ada-1", "ada-2"):
        got = await driver.expect("user_event", client, event="invoice-paid")
        assert got["data"] == {"n": 7}
    await asyncio.to_thread(sdk.send_to_user, "bob", "marker", {})
    await driver.expect("user_event", "bob", event="marker")
    assert not driver.observed("user_event", "bob", event="invoice-paid")


async def test_send_to_user_honours_socket_id(
    start_driver: StartDriver, server: RunningServer
) -> None:
    """socket_id on a user publish skips that one connection of the user."""
    driver = await start_driver(SCRIPT)
    first = await signed_in(driver, "tab-1", {"id": "ada"})
    await signed_in(driver, "tab-2", {"id": "ada"})
    sdk = sdk_for(server)
    channel = "#server-to-user-ada"
    await asyncio.to_thread(sdk.trigger, channel, "saved", {"by": "tab-1"}, socket_id=first)
    await driver.expect("user_event", "tab-2", event="saved")
    await asyncio.to_thread(sdk.send_to_user, "ada", "marker", {})
    await driver.expect("user_event", "tab-1", event="marker")
    assert not driver.observed("user_event", "tab-1", event="saved")


async def test_forged_signin_is_refused_with_4009(start_driver: StartDriver) -> None:
    """A sign-in signed with the wrong secret: pusher:error 4009 and the connection closes."""
    driver = await start_driver(SCRIPT)
    await driver.send("connect", "a", signin_as={"id": "ada"}, forge_signin=True)
    await driver.expect("connected", "a")
    await driver.send("signin", "a")
    error = await driver.expect("message", "a", event="pusher:error")
    assert error["data"]["code"] == 4009
    assert error["data"]["message"].startswith("Sign-in failed: Invalid signature")
    # 4009 is in the 4000-4099 "do not reconnect" range: pusher-js stays disconnected.
    await driver.expect("state", "a", previous="connected", current="disconnected")
    assert not driver.observed("message", "a", event="pusher:signin_success")


async def test_terminate_user_connections_closes_each_tab(
    start_driver: StartDriver, server: RunningServer
) -> None:
    """terminate_user_connections closes exactly that user's connections."""
    driver = await ada_twice_and_bob(start_driver)
    sdk = sdk_for(server)
    assert await asyncio.to_thread(sdk.terminate_user_connections, "ada") == {}
    for client in ("ada-1", "ada-2"):
        error = await driver.expect("message", client, event="pusher:error")
        assert error["data"]["code"] == 4009
    await asyncio.to_thread(sdk.send_to_user, "bob", "still-here", {})
    await driver.expect("user_event", "bob", event="still-here")
    assert not driver.observed("message", "bob", event="pusher:error")


async def closed_on_server(server: RunningServer, socket_id: str) -> asyncio.Future[None]:
    """A future done once the server has finished closing ``socket_id`` (its
    ``connection_closed`` event comes after everything the close announces)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_closed(event: events.ConnectionClosed) -> None:
        if event.socket_id == socket_id and not done.done():
            done.set_result(None)

    server.bus.on(events.ConnectionClosed, on_closed)
    return done


async def test_watchlist_snapshot_then_online_and_offline(
    start_driver: StartDriver, server: RunningServer
) -> None:
    """user.watchlist.bind('online'|'offline'): a snapshot after sign-in, then each watched
    user's first and last connection; a user going from two tabs to one stays online."""
    driver = await start_driver(SCRIPT)
    await signed_in(driver, "bob", {"id": "bob"})
    await driver.send("connect", "ada", signin_as={"id": "ada", "watchlist": ["bob", "cy"]})
    await driver.expect("connected", "ada")
    await driver.send("signin", "ada")
    snapshot = await driver.expect("watchlist", "ada", name="online")
    assert snapshot["user_ids"] == ["bob"]
    # The snapshot follows signin_success on the wire.
    await driver.expect("message", "ada", event="pusher_internal:watchlist_events")
    events_seen = [o.get("event") for o in driver.observed("message", "ada")]
    assert events_seen.index("pusher:signin_success") < events_seen.index(
        "pusher_internal:watchlist_events"
    )

    cy_first = await signed_in(driver, "cy-1", {"id": "cy"})
    await driver.expect("watchlist", "ada", name="online", user_ids=["cy"])
    await signed_in(driver, "cy-2", {"id": "cy"})
    closed = await closed_on_server(server, cy_first)
    await driver.send("disconnect", "cy-1")
    await asyncio.wait_for(closed, 5)
    # The barrier: bob's offline is announced after cy-1's close was fully handled.
    await driver.send("disconnect", "bob")
    await driver.expect("watchlist", "ada", name="offline", user_ids=["bob"])
    assert not driver.observed("watchlist", "ada", name="offline", user_ids=["cy"])
    assert len(driver.observed("watchlist", "ada", name="online", user_ids=["cy"])) == 1

    await driver.send("disconnect", "cy-2")
    await driver.expect("watchlist", "ada", name="offline", user_ids=["cy"])


async def test_oversize_watchlist_fails_the_sign_in(start_driver: StartDriver) -> None:
    """More than 100 watched users: the sign-in fails with 4009 and says the limit."""
    driver = await start_driver(SCRIPT)
    user = {"id": "ada", "watchlist": [f"u{i}" for i in range(101)]}
    await driver.send("connect", "a", signin_as=user)
    await driver.expect("connected", "a")
    await driver.send("signin", "a")
    error = await driver.expect("message", "a", event="pusher:error")
    assert error["data"]["code"] == 4009
    assert "has 101 user ids; the limit is 100" in error["data"]["message"]
