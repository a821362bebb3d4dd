"""Helpers every command shares: one-line errors, settings loading, the ``--config`` option,
JSON output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from tidings.config import Settings
from tidings.errors import TidingsError

__all__ = ["ConfigOption", "echo_json", "fail", "load_settings", "user_errors", "warn"]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file to read (default: $TIDINGS_CONFIG, else ./tidings.toml if present).",
        show_default=False,
    ),
]


def fail(message: str, *, hint: str = "", code: int = 1) -> NoReturn:
    """Print ``error: message[; hint]`` as one line on stderr and exit with ``code``."""
    typer.echo(f"error: {message}" + (f"; {hint}" if hint else ""), err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    typer.echo(f"warning: {message}", err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`~tidings.errors.TidingsError` raised inside into :func:`fail`."""
    try:
        yield
    except TidingsError as exc:
        fail(exc.message, hint=exc.hint)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """``Settings.load`` for a command: errors become one line, warnings are printed.

    Args:
        config: the ``--config`` value.
        **overrides: flag values; ``None`` means the flag was not given.
    """
    with user_errors():
        settings = Settings.load(config, **overrides)
    for message in settings.warnings:
        warn(message)
    return settings


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (what ``--json`` asks for)."""
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())
