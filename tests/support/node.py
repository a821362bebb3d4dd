"""Real Node.js clients (pusher-js, Laravel Echo, piesocket-js) driven from a test.

A *driver* (``tests/conformance/node/*_driver.mjs``) is a small command interpreter around
the real client library: the test writes one JSON command per line on its stdin and reads one
JSON observation per line from its stdout (the protocol is documented at the top of each
driver). :class:`NodeDriver` is the Python end: ``send`` a command, ``expect`` an observation
with a timeout. Drivers exit by themselves (on ``exit``, when stdin closes, or at a deadline),
and ``close`` kills any that did not by their PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fixtures.api import APP_ID, KEY, SECRET, signed_url

__all__ = [
    "NODE_DIR",
    "NodeDriver",
    "Observation",
    "kept_events",
    "launch_driver",
    "node_binary",
    "publish_to",
]

# Seconds any single expected observation may take: generous, as it bounds the wait for an
# outcome (never asserts speed) on a busy machine.
TIMEOUT = 15.0
DRIVER_DEADLINE_S = 90  # a driver exits by itself after this long, whatever happens
NODE_DIR = Path(__file__).resolve().parent.parent / "conformance" / "node"

Observation = dict[str, Any]


class NodeDriver:
    """One ``node DRIVER.mjs`` process: send it commands, await its observations."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.seen: list[Observation] = []  # every observation read so far, in order
        self._pending: list[Observation] = []  # read but not yet matched by expect()
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        # Read continuously so a chatty driver can never block on a full pipe.
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr += chunk

    async def send(self, cmd: str, client: str | None = None, **fields: Any) -> None:
        """Write one command line (``{"cmd": cmd, "client": client, **fields}``)."""
        assert self.proc.stdin is not None
        command: dict[str, Any] = {"cmd": cmd, **fields}
        if client is not None:
            command["client"] = client
        self.proc.stdin.write(orjson.dumps(command) + b"\n")
        await self.proc.stdin.drain()

    async def expect(
        self, step: str, client: str | None = None, timeout: float = TIMEOUT, **match: Any
    ) -> Observation:
        """The first unmatched observation with this ``step`` (and client, and fields).

        Observations that do not match stay pending for later ``expect`` calls, so the
        order in which two clients report does not matter.

        Raises:
            AssertionError: nothing matching within ``timeout`` seconds, or the driver
                reported an error or exited; the message shows what it did report.
        """
        wanted: dict[str, Any] = {"step": step, **match}
        if client is not None:
            wanted["client"] = client
        for earlier in self._pending:
            if _matches(earlier, wanted):
                self._pending.remove(earlier)
                return earlier
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"no observation matching {wanted} within {timeout} s")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            except TimeoutError:
                self._fail(f"no observation matching {wanted} within {timeout} s")
            if not line:
                await self.proc.wait()
                self._fail(f"driver exited ({self.proc.returncode}) before {wanted}")
            observation: Observation = orjson.loads(line)
            self.seen.append(observation)
            if observation["step"] in ("driver_error", "deadline"):
                self._fail(f"driver reported {observation} while waiting for {wanted}")
            if _matches(observation, wanted):
                return observation
            self._pending.append(observation)

    def observed(self, step: str, client: str | None = None, **match: Any) -> list[Observation]:
        """Every observation read so far with this step (and client, and fields)."""
        wanted: dict[str, Any] = {"step": step, **match}
        if client is not None:
            wanted["client"] = client
        return [observation for observation in self.seen if _matches(observation, wanted)]

    def _fail(self, problem: str) -> None:
        seen = "\n  ".join(orjson.dumps(o).decode() for o in self.seen) or "(nothing)"
        stderr = self._stderr.decode(errors="replace").strip()[-3000:] or "(empty)"
        raise AssertionError(f"{self.name}: {problem}\nobserved:\n  {seen}\nstderr:\n{stderr}")

    async def close(self) -> None:
        """Ask the driver to exit; kill it (by its PID) if it has not within a few seconds."""
        if self.proc.returncode is None:
            with contextlib.suppress(ConnectionError, AssertionError):
                await self.send("exit")
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stderr_task, 2)


def _matches(observation: Observation, wanted: dict[str, Any]) -> bool:
    return all(observation.get(field) == value for field, value in wanted.items())


def node_binary() -> str:
    """The ``node`` executable. Fails (never skips) with a fix when Node.js or the npm
    packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed for conformance tests: install Node 20", pytrace=False)
    if not (NODE_DIR / "node_modules" / "pusher-js").is_dir():
        pytest.fail(
            f"Node clients are not installed: run `make node` (npm ci in {NODE_DIR})",
            pytrace=False,
        )
    return node


async def launch_driver(
    node: str,
    script: str,
    port: int,
    name: str | None = None,
    *,
    key: str = KEY,
    secret: str = SECRET,
) -> NodeDriver:
    """Start ``node tests/conformance/node/<script>`` against the server on ``port``
    (its clients use the app ``key`` and sign channels with ``secret``)."""
    env = {
        **os.environ,
        "TIDINGS_KEY": key,
        "TIDINGS_SECRET": secret,
        "DRIVER_DEADLINE_S": str(DRIVER_DEADLINE_S),
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / script),
        "127.0.0.1",
        str(port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=NODE_DIR,
        env=env,
    )
    return NodeDriver(name or script, proc)


async def publish_to(
    base_url: str, channels: list[str], event: str, data: Any, **fields: Any
) -> Any:
    """Trigger an event through the signed HTTP API at ``base_url``, as a backend SDK would.

    ``data`` that is not a string is JSON-encoded first (the API carries a string).
    Returns the JSON answer; raises AssertionError unless the server answered 200.
    """
    if not isinstance(data, str):
        data = orjson.dumps(data).decode()
    body = orjson.dumps({"name": event, "channels": channels, "data": data, **fields})
    url = signed_url(base_url, "POST", f"/apps/{APP_ID}/events", body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        answer = await response.json(content_type=None)
        assert response.status == 200, f"publish answered {response.status}: {answer}"
        return answer


async def kept_events(
    base_url: str, channel: str, *, tls: ssl.SSLContext | None = None
) -> list[str] | None:
    """The names of the events ``channel`` keeps, oldest first, from the signed history
    endpoint at ``base_url``; ``None`` when the app keeps no history of it (a 404).

    Tests of clients on history channels call it to prove history was really on (or off).
    ``tls`` is the context trusting a test server's own certificate.
    """
    url = signed_url(base_url, "GET", f"/apps/{APP_ID}/channels/{channel}/history")
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls or True)) as session,
        session.get(url) as response,
    ):
        answer = await response.json(content_type=None)
        if response.status == 404:
            return None
        assert response.status == 200, f"history answered {response.status}: {answer}"
        assert answer["complete"] is True, answer
        return [event["event"] for event in answer["events"]]
