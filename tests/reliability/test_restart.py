"""A zero-gap restart: a new `tidings serve` takes over the port, the old one drains.

Both processes listen with SO_REUSEPORT (``reuse_port = true``). Once the new one
serves, SIGTERM to the old one closes its listener first, then tells its clients to
reconnect (4200): pusher-js reconnects at once and lands on the new process.
"""

from __future__ import annotations

import time

from tests.conformance.conftest import launch_driver, node_binary, publish_to
from tests.conftest import free_port
from tests.reliability.processes import ServeProcess

#: The target: a pusher-js client is connected again this soon after SIGTERM.
RECONNECT_TARGET_S = 2.0


async def test_pusher_js_reconnects_within_2_s_across_a_takeover_restart() -> None:
    """Old serves, new starts on the same port, SIGTERM the old: pusher-js is connected
    to the new one again within 2 s, re-subscribed, and gets events published there."""
    port = free_port()
    env = {"TIDINGS_REUSE_PORT": "true", "TIDINGS_SHUTDOWN_GRACE_PERIOD": "5"}
    old = await ServeProcess(env, ("--port", str(port))).start()
    new: ServeProcess | None = None
    driver = await launch_driver(node_binary(), "pusher_driver.mjs", port)
    try:
        await driver.send("connect", client="c1")
        first = await driver.expect("connected", client="c1")
        await driver.send("subscribe", client="c1", channel="restart")
        await driver.expect("subscribed", client="c1", channel="restart")

        new = await ServeProcess(env, ("--port", str(port))).start()
        stopped = time.monotonic()
        old.terminate()
        again = await driver.expect("connected", client="c1", timeout=10)
        reconnected = time.monotonic() - stopped
        assert await old.stop() == 0
        assert again["socket_id"] != first["socket_id"]
        await driver.expect("subscribed", client="c1", channel="restart", timeout=10)
        await publish_to(new.http_url, ["restart"], "after", {"n": 1})
        event = await driver.expect("event", client="c1", channel="restart")
        assert event["event"] == "after"
        assert reconnected <= RECONNECT_TARGET_S, f"pusher-js reconnected after {reconnected:.2f} s"
        print(f"pusher-js reconnected {reconnected:.3f} s after SIGTERM")  # for the note
    finally:
        await driver.close()
        await old.kill()
        if new is not None:
            await new.stop()
