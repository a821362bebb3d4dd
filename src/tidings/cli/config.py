"""``tidings config check|show|env|from-soketi``: validate, display, document and translate
the settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer

from tidings.cli.common import ConfigOption, fail, load_settings, user_errors
from tidings.config import ENV_PREFIX, Settings

__all__ = ["register"]

_MASK = "********"
_SECRET_KEYS = frozenset({"admin_password", "default_app_secret", "secret"})
_URL_KEYS = frozenset({"broker_url"})

config_app = typer.Typer(help="Validate, show and document the configuration.")


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{host}"))


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """A copy with secrets and URL passwords replaced by a mask."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECRET_KEYS and value is not None:
            out[key] = _MASK
        elif key in _URL_KEYS and isinstance(value, str):
            out[key] = _mask_url(value)
        elif key == "apps":
            out[key] = [_masked(app) for app in value]
        else:
            out[key] = value
    return out


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _as_toml(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if key == "apps":
            continue
        if value is None:
            lines.append(f"# {key} is not set")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_toml_scalar(v) for v in value)}]")
        else:
            lines.append(f"{key} = {_toml_scalar(value)}")
    for app in data.get("apps", []):
        lines += ["", "[[apps]]"]
        for key, value in app.items():
            if value is None:
                continue
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(_toml_scalar(v) for v in value)}]")
            else:
                lines.append(f"{key} = {_toml_scalar(value)}")
    return "\n".join(lines)


@config_app.command()
def check(
    config: ConfigOption = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too.")] = False,
) -> None:
    """Validate the configuration; exit 1 on an error (or a warning, with --strict)."""
    settings = load_settings(config)
    if strict and settings.warnings:
        fail(f"{len(settings.warnings)} warning(s) and --strict given")
    source = str(settings.config) if settings.config else "defaults and environment"
    apps = settings.app_list()
    typer.echo(f"ok: configuration is valid ({source}; {len(apps)} app(s))")
    if settings.is_public_bind and settings.uses_default_credentials:
        typer.echo(
            f"warning: {settings.http_host} is not loopback and an app uses the published "
            "secret app-secret; run `tidings init` for fresh credentials",
            err=True,
        )


@config_app.command()
def show(
    config: ConfigOption = None,
    output: Annotated[str, typer.Option("--format", help="toml or json.")] = "toml",
    show_secrets: Annotated[bool, typer.Option(help="Print secrets unmasked.")] = False,
) -> None:
    """Print the effective settings after every source is merged (secrets masked)."""
    if output not in ("toml", "json"):
        fail(f"unknown format {output!r}", hint="use --format toml or --format json")
    settings = load_settings(config)
    data = settings.model_dump(mode="json")
    if not show_secrets:
        data = _masked(data)
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(_as_toml(data))


@config_app.command()
def env() -> None:
    """List every TIDINGS_* variable with its default and meaning."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, bool):
            shown = "true" if default else "false"
        else:
            shown = "(unset)" if default is None else str(default)
        rows.append((f"{ENV_PREFIX}{name.upper()}", shown, field.description or ""))
    width = max(len(row[0]) for row in rows)
    default_width = min(26, max(len(row[1]) for row in rows))
    for var, default, description in rows:
        typer.echo(f"{var:<{width}}  {default:<{default_width}}  {description}")


@config_app.command("from-soketi")
def from_soketi(
    env_file: Annotated[
        Path | None,
        typer.Argument(
            help="A .env file with SOKETI_* variables (default: this environment).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the tidings.toml equivalent to Soketi's SOKETI_* variables."""
    from tidings.cli.soketi_env import read_soketi_env, to_toml

    if env_file is None:
        env, where = dict(os.environ), "the environment"
    else:
        from tidings.apps.import_sources import read_env_file

        with user_errors():
            env, where = read_env_file(env_file), str(env_file)
    found = read_soketi_env(env)
    if not (found.mapped or found.ignored or found.app):
        fail(
            f"no SOKETI_* variables in {where}",
            hint="give Soketi's .env file, or run it where Soketi's variables are set",
        )
    typer.echo(to_toml(found), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``config`` group to ``app``."""
    app.add_typer(config_app, name="config")
