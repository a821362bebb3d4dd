"""`tidings serve` as a child process of the test, with its log lines collected."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from typing import Any

import orjson

_HTTP_LINE = re.compile(rb'"url": ?"(http://127\.0\.0\.1:(\d+))"')
START_TIMEOUT = 30.0


class ServeProcess:
    """One ``python -m tidings serve`` with JSON logs; every line it writes is kept.

    Args:
        env: ``TIDINGS_*`` settings for it (on top of the test's environment).
        args: extra command-line arguments.
    """

    def __init__(self, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.env = {**os.environ, "TIDINGS_LOG_FORMAT": "json", **(env or {})}
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[bytes] = []
        self.port = 0
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._terminated = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> ServeProcess:
        """Start it and wait for its ``tidings serving`` line (which names the port)."""
        port_args = () if "--port" in self.args else ("--port", "0")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tidings",
            "serve",
            *port_args,
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"tidings serve did not start: {self.output()[-3000:]}") from None
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line)
            match = _HTTP_LINE.search(line)
            if match and b"tidings serving" in line:
                self.port = int(match.group(2))
                self._ready.set()
        self._ready.set()  # exited: start() reports the output

    def output(self) -> str:
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
        """The first log line containing ``needle`` (awaited, bounded)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {needle!r} line within {timeout} s: {self.output()}")
            await asyncio.sleep(0.05)

    def terminate(self) -> None:
        """Send SIGTERM once (the drain starts; ``stop`` waits for the exit)."""
        assert self.proc is not None
        if not self._terminated and self.proc.returncode is None:
            self._terminated = True
            self.proc.send_signal(signal.SIGTERM)

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait for the exit code (killed after ``timeout``)."""
        if self.proc is None:
            return 0
        # Once only: a second SIGTERM during the last moments of the exit, after
        # the loop removed its handlers, would kill the process (-15).
        self.terminate()
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"tidings serve did not stop: {self.output()[-3000:]}") from None
        if self._reader is not None:
            await self._reader
        return code

    async def kill(self) -> None:
        """SIGKILL (a crash), and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader
