"""`tidings apps …` run in the test's process (typer's ``CliRunner``), on an app database
of the test's own: what the CLI's unit and integration tests share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tidings.cli.main import app

__all__ = ["apps_json", "run_apps", "sqlite_apps"]


@pytest.fixture
def sqlite_apps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """tidings' own app database is the SQLite file this yields (not there yet), and the
    cwd (``tmp_path``) has no tidings.toml.

    Use it with ``pytestmark = pytest.mark.usefixtures("sqlite_apps")``.
    """
    path = tmp_path / "apps.sqlite3"
    monkeypatch.setenv("TIDINGS_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    yield path


def run_apps(*args: str) -> Result:
    """``tidings apps ARGS``: its exit code, stdout and stderr."""
    return CliRunner().invoke(app, ["apps", *args])


def apps_json(*args: str) -> Any:
    """``tidings apps ARGS --json``, which must exit 0: its JSON."""
    result = run_apps(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)
