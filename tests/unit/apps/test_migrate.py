"""``python -m tidings.apps.migrate revision MESSAGE``: the developer's tool that writes the
next migration (run here on a copy of the migrations folder, never on the source tree)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tidings.apps import migrate


def test_usage_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate.main([]) == 2
    assert migrate.main(["upgrade", "x"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ['usage: python -m tidings.apps.migrate revision "what changed"'] * 2


def test_revision_writes_the_next_numbered_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the App definition unchanged, the new revision is numbered after the last one,
    follows it, and changes nothing."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "SCRIPT_LOCATION", scripts)
    before = sorted(p.name for p in (scripts / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert migrate.main(["revision", "nothing changed"]) == 0
    after = sorted(p.name for p in (scripts / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    (new,) = set(after) - set(before)
    number = f"{len(before) + 1:04d}"
    assert new == f"{number}_nothing_changed.py"
    text = (scripts / "versions" / new).read_text()
    assert f'revision: str = "{number}"' in text or f"revision = '{number}'" in text, text
    assert before[-1][:4] in text  # down_revision: the previous head
    assert "op.create_table" not in text and "op.add_column" not in text
