"""Reference tables in the docs name exactly what exists: settings and CLI commands."""

from __future__ import annotations

import re

import typer

from tests.docs.markdown import ROOT
from tidings.cli.main import app
from tidings.config import ENV_PREFIX, Settings


def test_configuration_table_lists_every_setting_and_nothing_else() -> None:
    """docs/configuration.md's table: one row per Settings field, with its variable."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `(TIDINGS_\w+)` \|", text, re.M))
    assert sorted(rows) == sorted(Settings.model_fields)
    assert all(variable == ENV_PREFIX + name.upper() for name, variable in rows.items())


def test_readme_cli_table_lists_every_command_and_nothing_else() -> None:
    """README's CLI table: one row per command the `tidings` group registers."""
    text = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `tidings (\w[\w-]*)", text, re.M))
    group = typer.main.get_group(app)
    assert listed == set(group.commands)
