"""`tidings serve` as a child process of a test: the one launcher every tier uses.

The process binds port 0 (unless the test passes ``--port``) and is ready when it logs
``tidings serving`` (whose ``url`` names the port it got), or, with ``--workers N``,
``workers started`` (whose ``port`` field names it). Both output pipes are drained from
the start into :attr:`ServeProcess.lines`, so a chatty server can never block on a full
pipe, and a test that fails shows what the server said (the ``serve`` fixture prints it
at teardown, which pytest shows for failed tests only).

Stopping is bounded: SIGTERM, then SIGKILL of the whole process group (the server and
any workers it forked; the group is the child's own, started with ``start_new_session``)
after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.waiting import eventually

__all__ = ["ServeProcess", "StartServe", "serve"]

START_TIMEOUT = 30.0  # importing + binding on a busy 2-core machine, with margin
STOP_TIMEOUT = 20.0

# `tidings serving` carries url=http(s)://host:port (JSON or console log format).
_SERVING_URL = re.compile(rb"(https?)://([0-9.]+|\[[0-9a-f:]+\]|localhost):(\d+)")
_WORKERS_PORT = re.compile(rb'"port": ?(\d+)')


class ServeProcess:
    """One ``python -m tidings serve``; every line it writes (stdout and stderr) is kept.

    Args:
        env: settings for it, on top of the test's environment (``TIDINGS_*``).
        args: extra command-line arguments (``--port 0`` is added unless given).
        json_logs: add ``TIDINGS_LOG_FORMAT=json`` (the default) so records can be read.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] | list[str] = (),
        *,
        json_logs: bool = True,
    ) -> None:
        base = {**os.environ, "TIDINGS_LOG_FORMAT": "json"} if json_logs else dict(os.environ)
        self.env = {**base, **(env or {})}
        self.args = tuple(args)
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[bytes] = []  # stdout and stderr lines, in the order they were read
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        self.port = 0
        self.scheme = "http"
        self._ready = asyncio.Event()
        self._exited = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self._terminated = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://127.0.0.1:{self.port}"

    async def launch(self) -> ServeProcess:
        """Start it without waiting for readiness (for a run expected to fail or exit)."""
        port_args = () if "--port" in self.args else ("--port", "0")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tidings",
            "serve",
            *port_args,
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            start_new_session=True,  # its own process group: workers die with it on kill()
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout, self.stdout)),
            asyncio.create_task(self._read(self.proc.stderr, self.stderr)),
        ]
        return self

    async def start(self, timeout: float = START_TIMEOUT) -> ServeProcess:
        """Start it and wait until it serves (its ``tidings serving`` or ``workers started``
        line, which names the port). Fails with its output if it exits or times out first."""
        await self.launch()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"tidings serve did not start within {timeout} s:\n{self.output()[-3000:]}"
            ) from None
        if not self.port:
            await self.kill()
            raise AssertionError(
                f"tidings serve exited ({self.returncode}) before serving:\n{self.output()[-3000:]}"
            )
        return self

    async def until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait (bounded) until ``/ready`` answers 200: serving, and its broker connected."""

        async def ready() -> bool:
            if self.returncode is not None:
                raise AssertionError(
                    f"tidings serve exited ({self.returncode}):\n{self.output()[-3000:]}"
                )
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"{self.http_url}/ready", ssl=False) as response,
                ):
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout, f"/ready of tidings serve on port {self.port}")

    async def _read(self, stream: asyncio.StreamReader, into: list[bytes]) -> None:
        while line := await stream.readline():
            into.append(line)
            self.lines.append(line)
            if self.port:
                continue
            if b"tidings serving" in line:
                match = _SERVING_URL.search(line)
                if match:
                    self.scheme = match.group(1).decode()
                    self.port = int(match.group(3))
                    self._ready.set()
            elif b"workers started" in line:
                match = _WORKERS_PORT.search(line)
                if match:
                    self.port = int(match.group(1))
                    self._ready.set()
        if all(task.done() or task is asyncio.current_task() for task in self._readers):
            self._ready.set()  # both pipes closed (it exited): start() reports the output
            self._exited.set()

    def output(self) -> str:
        """Everything it wrote so far, stdout and stderr interleaved as read."""
        return b"".join(self.lines).decode(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Its JSON log lines, decoded (the banner and other text are skipped)."""
        out = []
        for line in self.lines:
            if line.startswith(b"{"):
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
        return out

    async def wait_for_line(self, needle: bytes, timeout: float = 10.0) -> bytes:
        """The first line containing ``needle`` (awaited, bounded; fails with the output)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {needle!r} line within {timeout} s:\n{self.output()}")
            await asyncio.sleep(0.02)

    def terminate(self) -> None:
        """Send SIGTERM once (the drain starts; ``stop`` or ``wait`` awaits the exit)."""
        assert self.proc is not None
        if not self._terminated and self.proc.returncode is None:
            self._terminated = True
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Its exit code, once it exits by itself (bounded: killed, then fails, after
        ``timeout``). Its output is fully read when this returns."""
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"tidings serve did not exit within {timeout} s:\n{self.output()[-3000:]}"
            ) from None
        await self._drained()
        return code

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then its exit code (killed, and fails, after ``timeout``)."""
        if self.proc is None:
            return 0
        # Once only: a second SIGTERM during the last moments of the exit, after
        # the loop removed its handlers, would kill the process (-15).
        self.terminate()
        return await self.wait(timeout)

    async def kill(self) -> None:
        """SIGKILL its process group (a crash, workers included), and reap it."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # our child's own group
            await self.proc.wait()
        await self._drained()

    async def _drained(self) -> None:
        # Forked workers may hold the pipes a moment longer than the parent lives.
        for task in self._readers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 5)

    async def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Teardown: stop it if it runs (kill after ``timeout``), never raising."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                pass
        await self.kill()  # the group: a worker may outlive a parent that exited
        for task in self._readers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._readers, return_exceptions=True)


StartServe = Callable[..., Awaitable[ServeProcess]]


@pytest.fixture
async def serve() -> AsyncIterator[StartServe]:
    """Start ``tidings serve`` processes: ``await serve(env={...}, args=(...))`` returns a
    ready :class:`ServeProcess` (``ready=False``: launched only). All are stopped after the
    test (SIGTERM, SIGKILL after a bound); their output is printed then, which pytest shows
    when the test failed."""
    started: list[ServeProcess] = []

    async def start(
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] | list[str] = (),
        *,
        ready: bool = True,
        json_logs: bool = True,
        timeout: float = START_TIMEOUT,
    ) -> ServeProcess:
        process = ServeProcess(env, args, json_logs=json_logs)
        started.append(process)
        if ready:
            return await process.start(timeout)
        return await process.launch()

    try:
        yield start
    finally:
        await asyncio.gather(*(process.close() for process in started))
        for index, process in enumerate(started):
            print(f"--- tidings serve #{index} (exit {process.returncode}) ---")
            print(process.output()[-20000:])
