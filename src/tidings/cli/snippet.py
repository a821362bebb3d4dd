"""``tidings snippet KIND``: paste-ready client configuration for the first app."""

from __future__ import annotations

from typing import Annotated

import typer

from tidings.cli.common import ConfigOption, fail, load_settings, user_errors
from tidings.snippets import SNIPPET_KINDS
from tidings.snippets import snippet as render_snippet

__all__ = ["register"]


def snippet(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(SNIPPET_KINDS)}.")],
    config: ConfigOption = None,
) -> None:
    """Print client configuration (pusher-js, Echo, Python, curl, Laravel .env, piesocket-js)."""
    if kind not in SNIPPET_KINDS:
        fail(f"unknown snippet kind {kind!r}", hint=f"use one of {', '.join(SNIPPET_KINDS)}")
    settings = load_settings(config)
    with user_errors():
        typer.echo(render_snippet(kind, settings))


def register(app: typer.Typer) -> None:
    """Add ``snippet`` to ``app``."""
    app.command()(snippet)
