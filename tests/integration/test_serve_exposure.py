"""`tidings serve` and exposure: an open admin listener is refused, and the banner prints
app secrets to a terminal only (a pipe is journald or a log shipper)."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys

import pytest

from tests.integration.conftest import TIMEOUT, ServerFactory
from tests.support.serve import StartServe
from tidings.errors import ConfigError

_START_S = 20.0
_SECRET = "-".join(["banner", "secret", "value"])


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TIDINGS_HTTP_PORT": "0",  # the OS picks a free port
        "TIDINGS_SHUTDOWN_GRACE_PERIOD": "0",
        **extra,
    }


async def test_open_admin_listener_is_refused_with_exit_2(serve: StartServe) -> None:
    proc = await serve(_env(TIDINGS_ADMIN_HOST="0.0.0.0"), ready=False, json_logs=False)
    code = await proc.wait(_START_S)
    stderr = b"".join(proc.stderr).decode()
    assert code == 2, stderr
    line = stderr.strip()
    assert line.startswith("error: admin_host '0.0.0.0' is not a loopback address")
    assert "TIDINGS_ADMIN_PASSWORD" in line and "\n" not in line
    assert proc.stdout == []


async def test_start_server_refuses_it_too(server_factory: ServerFactory) -> None:
    with pytest.raises(ConfigError, match="admin_password is unset"):
        await server_factory(admin_host="0.0.0.0")
    running = await server_factory(admin_host="0.0.0.0", admin_password="pw")
    assert running.admin_url is not None


def _banner(stdout: int | None, read: int) -> bytes:
    """Run `tidings serve` with ``stdout``; the bytes read from ``read`` up to the banner's end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidings", "serve"],
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        env=_env(TIDINGS_DEFAULT_APP_SECRET=_SECRET),
    )
    try:
        seen = b""
        # The banner's last section is curl's; print() ends it with an empty line
        # (CR LF on a terminal).
        while not (b"-- curl" in seen and seen.endswith((b"\n\n", b"\r\n\r\n"))):
            chunk = os.read(read, 65536)
            assert chunk, f"serve ended early: {seen[-500:]!r}"
            seen += chunk
        return seen
    finally:
        proc.send_signal(signal.SIGTERM)  # our own child, by its PID
        try:
            proc.wait(timeout=TIMEOUT * 3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_banner_shows_secrets_on_a_terminal_only() -> None:
    primary, replica = pty.openpty()
    try:
        on_tty = _banner(replica, primary)
    finally:
        os.close(replica)
        os.close(primary)
    assert f"secret={_SECRET}".encode() in on_tty
    read, write = os.pipe()
    try:
        piped = _banner(write, read)
    finally:
        os.close(write)
        os.close(read)
    assert b"tidings" in piped and b"key=app-key" in piped
    assert _SECRET.encode() not in piped
