"""SOKETI_* variables: `tidings serve` names them in one warning; `tidings config
from-soketi` prints a tidings.toml that loads, from a .env file or the environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidings.cli.main import app
from tidings.config import Settings

SOKETI_ENV = (
    "# Soketi's .env\n"
    "SOKETI_PORT=6002\n"
    "SOKETI_DEFAULT_APP_ID=4242\n"
    'SOKETI_DEFAULT_APP_KEY="soketi-key"\n'
    "SOKETI_DEFAULT_APP_SECRET=soketi-secret\n"
    "SOKETI_DEFAULT_APP_MAX_CONNS=100\n"
    "SOKETI_MODE=full\n"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SOKETI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


async def test_serve_names_soketi_variables_in_one_warning() -> None:
    """A real `tidings serve` with Soketi's variables set: one warning, then it serves
    (on its own settings: SOKETI_PORT is not read)."""
    env = {
        **os.environ,
        "SOKETI_PORT": "6002",
        "SOKETI_DEFAULT_APP_KEY": "soketi-key",
        "SOKETI_DEFAULT_APP_SECRET": "not-in-the-log",
        "SOKETI_MODE": "full",
        "SOKETI_ADAPTER_DRIVER": "cluster",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "serve", "--port", "0", "--log-format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not any("WebSocket" in line and "/app/app-key" in line for line in lines):
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, f"tidings serve exited early: {lines}"
            lines.append(line.decode())
        soketi = [line for line in lines if "SOKETI_" in line]
        assert len(soketi) == 1, soketi
        (warning,) = soketi
        assert warning.startswith("warning: SOKETI_* variables are not read by tidings")
        assert "SOKETI_PORT -> TIDINGS_HTTP_PORT" in warning
        assert "SOKETI_DEFAULT_APP_KEY -> TIDINGS_DEFAULT_APP_KEY" in warning
        assert "ignored (no equivalent): SOKETI_ADAPTER_DRIVER, SOKETI_MODE" in warning
        assert "not-in-the-log" not in "".join(lines)
        assert not any("127.0.0.1:6002" in line for line in lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def test_from_soketi_reads_a_file_and_the_toml_loads(tmp_path: Path) -> None:
    """The printed TOML loads without a warning and has the default app with its limit."""
    (tmp_path / "soketi.env").write_text(SOKETI_ENV)
    result = CliRunner().invoke(app, ["config", "from-soketi", "soketi.env"])
    assert result.exit_code == 0, result.stderr
    assert "# SOKETI_MODE: ignored" in result.stdout
    (tmp_path / "tidings.toml").write_text(result.stdout)
    settings = Settings.load(tmp_path / "tidings.toml")
    assert settings.warnings == [] and settings.http_port == 6002
    (default,) = settings.app_list()
    assert (default.id, default.key, default.max_connections) == ("4242", "soketi-key", 100)
    assert default.enable_client_messages is False  # Soketi's default app refuses them


def test_from_soketi_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a file: the environment's SOKETI_*; with none set, a one-line error."""
    empty = CliRunner().invoke(app, ["config", "from-soketi"])
    assert empty.exit_code == 1 and "no SOKETI_* variables in the environment" in empty.stderr
    monkeypatch.setenv("SOKETI_PRESENCE_MAX_MEMBERS", "250")
    result = CliRunner().invoke(app, ["config", "from-soketi"])
    assert result.exit_code == 0 and "max_presence_members = 250" in result.stdout
    missing = CliRunner().invoke(app, ["config", "from-soketi", "nope.env"])
    assert missing.exit_code == 1 and "nope.env not found" in missing.stderr
