"""Apps imported from Soketi and Reverb work at once on a running node, with real clients.

A node keeps its apps in MariaDB; Soketi's `apps` table (its own DDL) sits in the same
database, with a webhook in Soketi's shape. `tidings apps import soketi` and `tidings apps
import reverb .env` run (as processes of their own) while the node serves: without a
restart pusher-js connects with each imported key, the webhook reaches a receiver that checks
it with the PyPI SDK's validate_webhook, and events the PyPI `pusher` SDK publishes
to the imported apps reach pusher-js.

The node runs in the test's process (``server_factory``: the server `tidings serve` starts,
without its process start-up), as what is tested is the import and the serving, not the
command that starts the node.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pusher
import pusher.errors
import pytest

from tests.conformance.conftest import Launch, NodeDriver, ServerFactory, sdk, tidings_apps
from tests.fixtures.soketi import SOKETI_MYSQL_DDL
from tests.fixtures.webhooks import Receiver, has
from tests.support.mysql import mysql_connect

pytestmark = [pytest.mark.node, pytest.mark.mysql]

# How long make test waits for a running node to serve an imported app: generous, as no
# duration is asserted here (test_apps_live.py checks the 2 s contract of a change).
OUTCOME_S = 30.0
SOKETI_APP = {"id": "7001", "key": "soketi-live-key", "secret": "soketi-live-secret"}
REVERB_APP = {"id": "7002", "key": "reverb-live-key", "secret": "reverb-live-secret"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooks = Receiver(key=SOKETI_APP["key"], secret=SOKETI_APP["secret"])
    await hooks.start()
    try:
        yield hooks
    finally:
        await hooks.stop()


async def served_within(seconds: float, port: int, app: dict[str, str]) -> float:
    """Seconds until the node accepts a PyPI SDK publish for ``app`` (fails past ``seconds``)."""
    start = time.monotonic()
    while True:
        try:
            await asyncio.to_thread(sdk(port, app).trigger, "warm-up", "ping", {})
        except pusher.errors.PusherError:
            assert time.monotonic() - start < seconds, f"{app['id']} not served in {seconds} s"
            await asyncio.sleep(0.05)  # the node polls its database: no event to await
        else:
            return time.monotonic() - start


async def test_imported_soketi_and_reverb_apps_serve_at_once(
    mysql_url: str,
    server_factory: ServerFactory,
    launch: Launch,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """Import while the node runs; pusher-js, the PyPI SDK and the webhook all work."""
    env = {"TIDINGS_DATABASE_URL": mysql_url}
    port = (await server_factory(broker_url="memory://", database_url=mysql_url)).port

    hooks = [{"url": receiver.url("/soketi"), "event_types": ["channel_occupied"]}]
    with mysql_connect(mysql_url) as conn, conn.cursor() as cursor:
        cursor.execute(SOKETI_MYSQL_DDL)
        cursor.execute(
            "INSERT INTO apps (id, `key`, secret, max_connections, enabled, "
            "enable_client_messages, max_backend_events_per_sec, max_client_events_per_sec, "
            "max_read_req_per_sec, webhooks, enable_user_authentication) "
            "VALUES (%s, %s, %s, 100, 1, 1, -1, -1, -1, %s, 0)",
            (SOKETI_APP["id"], SOKETI_APP["key"], SOKETI_APP["secret"], json.dumps(hooks)),
        )
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        f"APP_NAME=Laravel\nBROADCAST_CONNECTION=reverb\nREVERB_APP_ID={REVERB_APP['id']}\n"
        f'REVERB_APP_KEY={REVERB_APP["key"]}\nREVERB_APP_SECRET="{REVERB_APP["secret"]}"\n'
    )
    soketi, reverb = await asyncio.gather(  # two users' imports, at the same time
        tidings_apps(env, "import", "soketi", mysql_url),
        tidings_apps(env, "import", "reverb", str(dotenv)),
    )
    assert [a["result"] for a in soketi["apps"] + reverb["apps"]] == ["imported", "imported"]
    for app in (SOKETI_APP, REVERB_APP):
        await served_within(OUTCOME_S, port, app)  # by the running node: no restart

    drivers: list[NodeDriver] = []
    for app in (SOKETI_APP, REVERB_APP):
        driver = await launch(
            "pusher_driver.mjs", port, app["key"], key=app["key"], secret=app["secret"]
        )
        drivers.append(driver)
        await driver.send("connect", "c")
        await driver.expect("connected", "c")
    for index, (driver, app) in enumerate(zip(drivers, (SOKETI_APP, REVERB_APP), strict=True)):
        channel = f"orders-{index}"
        await driver.send("subscribe", "c", channel=channel)
        await driver.expect("subscribed", "c", channel=channel)
        await asyncio.to_thread(sdk(port, app).trigger, channel, "shipped", {"n": index})
        got = await driver.expect("event", "c", channel=channel, event="shipped")
        assert got["data"] == {"n": index}
    # The Soketi app's webhook, in Soketi's shape, signed with the imported secret.
    events = await receiver.wait_for(has("channel_occupied", "orders-0"))
    assert all(r.body is not None for r in receiver.received)  # every signature valid
    assert {e["channel"] for e in events} == {"orders-0"}  # the Reverb app has none
