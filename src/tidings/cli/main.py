"""The ``tidings`` console script: builds the Typer app from one module per command group.

To add a command group, write ``tidings/cli/<name>.py`` with a
``register(app: typer.Typer) -> None`` function and append ``<name>`` to
:data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Annotated, Any

import typer

# typer 0.29 vendors click; these two classes are not re-exported publicly.
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.exceptions import TyperException

from tidings.errors import TidingsError

__all__ = ["COMMAND_MODULES", "app", "main"]

COMMAND_MODULES = [
    "serve",
    "init",
    "config",
    "apps",
    "snippet",
    "version",
    "trigger",
    "listen",
    "auth",
    "channels",
    "history",
    "doctor",
    "conformance",
    "bench",
]


class _OneLineErrors(TyperGroup):
    """Report usage errors and uncaught user errors as ``error: ...`` on one stderr line.

    Typer's default draws a box around usage errors; scripts and humans both
    read one line better, and the exit codes stay click's (2 for usage errors).
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except NoArgsIsHelpError as exc:
            typer.echo(exc.format_message(), err=True)  # the help text
            sys.exit(exc.exit_code)
        except TyperException as exc:
            hint = ""
            if isinstance(exc, UsageError) and exc.ctx is not None:
                hint = f" (see `{exc.ctx.command_path} --help`)"
            typer.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        except TidingsError as exc:
            typer.echo(f"error: {exc.message}" + (f"; {exc.hint}" if exc.hint else ""), err=True)
            sys.exit(1)
        # Non-standalone click returns the exit code of a typer.Exit / ctx.exit().
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="tidings",
    help="tidings: a self-hosted real-time WebSocket server (Pusher Channels and PieSocket).",
    cls=_OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from tidings import __version__

        typer.echo(f"tidings {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """tidings: a self-hosted real-time WebSocket server (Pusher Channels and PieSocket)."""


for _name in COMMAND_MODULES:
    import_module(f"tidings.cli.{_name}").register(app)


def main() -> None:
    """Entry point of the ``tidings`` console script."""
    app()
