"""``tidings version``: package, Python and aiohttp versions."""

from __future__ import annotations

import platform

import typer

__all__ = ["register"]


def version() -> None:
    """Print the tidings, Python and aiohttp versions."""
    import aiohttp

    from tidings.version import __version__

    typer.echo(f"tidings {__version__}")
    typer.echo(f"Python {platform.python_version()} ({platform.python_implementation()})")
    typer.echo(f"aiohttp {aiohttp.__version__}")


def register(app: typer.Typer) -> None:
    """Add ``version`` to ``app``."""
    app.command()(version)
