"""``tidings serve``: load settings, set up logging, run the server until a signal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tidings.cli.common import ConfigOption, fail, load_settings, user_errors, warn
from tidings.cli.soketi_env import startup_warning
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.logs import configure_logging
from tidings.tls import check_server_files

__all__ = ["register"]

_PORT_HINT = (
    "stop the process using it or pick another port: --port 6002, TIDINGS_HTTP_PORT=6002, "
    "or `make run PORT=6002`"
)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default 127.0.0.1; 0.0.0.0 exposes it).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 6001).")] = None,
    config: ConfigOption = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning, error or critical.")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="auto, pretty or json.")] = None,
    broker: Annotated[
        str | None, typer.Option(help="memory:// or redis://host:6379/0 for a cluster.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes sharing the port, each a cluster node (needs --broker redis://)."
        ),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (with --tls-key).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key (with --tls-cert).")] = None,
    admin_host: Annotated[
        str | None, typer.Option(help="Admin listener address (default 127.0.0.1).")
    ] = None,
    admin_port: Annotated[
        int | None, typer.Option(help="Admin listener port (default 9601; 0 picks a free one).")
    ] = None,
) -> None:
    """Run the server: WebSocket + HTTP API on one port, admin on another."""
    settings = load_settings(
        config,
        http_host=host,
        http_port=port,
        log_level=log_level,
        log_format=log_format,
        broker_url=broker,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        admin_host=admin_host,
        admin_port=admin_port,
    )
    soketi = startup_warning(os.environ)  # one line, however many SOKETI_* are set
    if soketi is not None:
        warn(soketi)
    with user_errors():
        configure_logging(settings.log_level, settings.log_format)
        if settings.tls_cert is not None and settings.tls_key is not None:
            check_server_files(settings.tls_cert, settings.tls_key)
    _check_workers(settings)
    _check_admin(settings)
    try:
        # Imported here so `tidings --help` and the config commands stay light.
        from tidings.server.runner import serve as run_server
    except ImportError as exc:
        fail(
            f"the server cannot start: {exc}",
            hint="reinstall tidings from its checkout: pip install .",
        )
    with user_errors():
        try:
            code = run_server(settings)
        except OSError as exc:  # typically the port is taken or the address is not local
            where = f"{settings.http_host}:{settings.http_port}"
            fail(
                f"cannot listen on {where}: {exc.strerror or exc}",
                hint=_PORT_HINT,
            )
    if code:
        raise typer.Exit(code)


def _check_workers(settings: Settings) -> None:
    """``--workers N`` with settings that cannot work: one line, exit 2 (a usage error)."""
    from tidings.server.workers import check_workers

    try:
        check_workers(settings)
    except ConfigError as exc:
        fail(exc.message, hint=exc.hint, code=2)


def _check_admin(settings: Settings) -> None:
    """An admin listener off loopback without a password: one line, exit 2."""
    from tidings.security import check_admin_exposure

    try:
        check_admin_exposure(settings)
    except ConfigError as exc:
        fail(exc.message, hint=exc.hint, code=2)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)
