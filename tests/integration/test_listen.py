"""``tidings listen`` as a user runs it: a real process tailing a real server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.conftest import ServerFactory, publish
from tidings.server.runner import RunningServer

TIDINGS = [sys.executable, "-m", "tidings"]
# How long a `tidings listen` process may take for an outcome: it starts a Python
# interpreter (measured by coverage under make test) on a machine that may be busy.
WAIT = 30.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}


class Listener:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        assert raw, "tidings listen ended early"
        return raw.decode().rstrip("\n")


@pytest.fixture
async def start_listen(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[asyncio.subprocess.Process] = []

    async def start(server: RunningServer, *args: str) -> Listener:
        process = await asyncio.create_subprocess_exec(
            *TIDINGS,
            "listen",
            *args,
            "--url",
            server.http_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
            env=_env(),
        )
        started.append(process)
        return Listener(process)

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def subscribed(server: RunningServer, channels: set[str]) -> asyncio.Event:
    """An event set once every channel in ``channels`` has a subscriber on ``server``."""
    waiting, done = set(channels), asyncio.Event()

    def seen(event: Any) -> None:
        waiting.discard(event.channel)
        if not waiting:
            done.set()

    server.bus.on("subscribed", seen)
    return done


async def test_listen_prints_events_of_every_channel_kind(
    server: RunningServer, start_listen: Callable[..., Any]
) -> None:
    """Public, private and presence channels (signed by listen itself) print each event with
    its time as JSON lines; Ctrl-C (SIGINT) exits 0."""
    channels = ["news", "private-orders", "presence-lobby"]
    ready = await subscribed(server, set(channels))
    listener = await start_listen(server, *channels, "--json")
    await asyncio.wait_for(ready.wait(), WAIT)
    for index, channel in enumerate(channels):
        status, _ = await publish(
            server, [channel], f"e{index}", orjson.dumps({"n": index}).decode()
        )
        assert status == 200
    for index, channel in enumerate(channels):
        record = orjson.loads(await listener.line())
        assert record["channel"] == channel
        assert record["event"] == f"e{index}"
        assert record["data"] == {"n": index}
        assert record["time"].endswith("Z")
    listener.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(listener.process.wait(), WAIT) == 0
    assert listener.process.stderr is not None
    assert b"Traceback" not in await listener.process.stderr.read()


async def test_listen_text_and_protocol_events(
    server: RunningServer, start_listen: Callable[..., Any]
) -> None:
    """The text form is `time  channel  event  data`; --events adds the confirmations."""
    ready = await subscribed(server, {"news"})
    listener = await start_listen(server, "news", "--events")
    await asyncio.wait_for(ready.wait(), WAIT)
    first = await listener.line()
    assert first.split("  ")[1:] == ["news", "subscription_succeeded", "{}"]
    assert (await listener.line()).startswith("# listening on news")
    await publish(server, ["news"], "hello", '"plain text"')
    when, channel, event, data = (await listener.line()).split("  ")
    assert (channel, event, data) == ("news", "hello", "plain text")
    assert when[:4].isdigit() and when.endswith("Z")
    listener.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(listener.process.wait(), WAIT) == 0


async def test_listen_reports_the_close_code_of_a_server_that_stops(
    server_factory: ServerFactory, start_listen: Callable[..., Any]
) -> None:
    """A server shutting down closes with 4200; each listener says 4200, never 1006.

    The server's FIN comes right after its close frame, so aiohttp's own close code
    turned into 1006 whenever both were read before its close reply went out (most
    runs); listen reports the code of the close frame it read. Three listeners make
    the race near certain to show if it came back."""
    server = await server_factory()
    ready = await subscribed(server, {"news"})
    listeners = [await start_listen(server, "news") for _ in range(3)]
    await asyncio.wait_for(ready.wait(), WAIT)
    for listener in listeners:
        assert (await listener.line()).startswith("# listening on news")
    await server.shutdown()
    for listener in listeners:
        assert await asyncio.wait_for(listener.process.wait(), WAIT) == 1
        assert listener.process.stderr is not None
        err = (await listener.process.stderr.read()).decode()
        assert err == (
            "error: the server closed the connection "
            "(code 4200: Server is shutting down; reconnect)\n"
        )


async def test_listen_refused_subscription_fails_with_the_reason(
    server: RunningServer, start_listen: Callable[..., Any]
) -> None:
    """A wrong secret: one error line naming the refusal, exit 1."""
    listener = await start_listen(server, "private-orders", "--key", "app-key", "--secret", "nope")
    code = await asyncio.wait_for(listener.process.wait(), WAIT)
    assert listener.process.stderr is not None
    err = (await listener.process.stderr.read()).decode()
    assert code == 1
    assert err.startswith("error: subscription to 'private-orders' refused")
    assert err.count("\n") == 1


async def test_listen_bad_channel_name(
    server: RunningServer, start_listen: Callable[..., Any]
) -> None:
    listener = await start_listen(server, "bad channel!")
    assert await asyncio.wait_for(listener.process.wait(), WAIT) == 2
    assert listener.process.stderr is not None
    assert (
        (await listener.process.stderr.read()).decode().startswith("error: channel 'bad channel!'")
    )


async def test_listen_unreachable_server(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *TIDINGS,
        "listen",
        "news",
        "--url",
        "http://127.0.0.1:9",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=_env(),
    )
    _, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 1
    assert err.decode().startswith("error: cannot connect to ws://127.0.0.1:9")
