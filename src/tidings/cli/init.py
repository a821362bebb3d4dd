"""``tidings init``: write a commented ``tidings.toml`` with fresh credentials."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from tidings.cli.common import fail
from tidings.config import ENV_PREFIX, Settings

__all__ = ["register", "render_template"]

# Written uncommented: the credentials. Everything else is shown commented out
# with its default, so the file documents itself and defaults can still change.
_ACTIVE = ("default_app_id", "default_app_key", "default_app_secret")
_SKIP = ("config", "apps")
# Shown for settings whose default is "unset", so uncommenting gives valid TOML.
_EXAMPLES = {
    "public_url": "https://realtime.example.com",
    "admin_password": "change-me",
    "node_id": "node-1",
    "tls_cert": "/etc/tidings/cert.pem",
    "tls_key": "/etc/tidings/key.pem",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list) and not value:
        return "[]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_template(app_id: str, key: str, secret: str) -> str:
    """The text of a new ``tidings.toml`` whose default app has these credentials.

    Every other setting appears commented out with its default value, its
    description and its environment variable.
    """
    lines = [
        "# tidings configuration. Precedence: command-line flags > TIDINGS_* environment",
        "# variables > this file > defaults. `tidings config check` validates it,",
        "# `tidings config env` lists every setting. Keep this file private: it holds secrets.",
        "",
        "# The default app (used when no [[apps]] table is given).",
        f"default_app_id = {_toml_value(app_id)}",
        f"default_app_key = {_toml_value(key)}",
        f"default_app_secret = {_toml_value(secret)}",
    ]
    for name, field in Settings.model_fields.items():
        if name in _ACTIVE or name in _SKIP:
            continue
        default = field.get_default(call_default_factory=True)
        default = default if default is not None else _EXAMPLES.get(name, "")
        description = (field.description or "").rstrip(".")
        lines.append("")
        lines.append(f"# {description} (env {ENV_PREFIX}{name.upper()})")
        lines.append(f"# {name} = {_toml_value(default)}")
    lines += [
        "",
        "# Several apps: give one [[apps]] table each. They REPLACE the default app.",
        "# Limits left out take the global values above.",
        "# [[apps]]",
        '# id = "2"',
        '# key = "another-key"',
        '# secret = "another-secret"',
        '# name = "My second app"',
        "# enable_client_messages = false",
        "# max_connections = 1000",
        '# allowed_origins = ["https://example.com", "https://*.example.com"]',
        '# history_channels = ["chat-"]  # docs/history.md',
        "#   [[apps.webhooks]]  (docs/webhooks.md)",
        '#   url = "http://127.0.0.1:8000/pusher/webhook"',
        '#   event_types = ["member_added", "member_removed"]',
        "",
    ]
    return "\n".join(lines)


def new_credentials() -> tuple[str, str, str]:
    """A fresh numeric app id (the PyPI pusher SDK wants digits), key and secret."""
    app_id = str(100000 + secrets.randbelow(900000))
    return app_id, secrets.token_hex(10), secrets.token_hex(32)


def init(
    path: Annotated[Path, typer.Option(help="Where to write the file.")] = Path("tidings.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented tidings.toml with fresh random credentials."""
    if path.exists() and not force:
        fail(f"{path} already exists", hint="pass --force to overwrite it")
    app_id, key, secret = new_credentials()
    text = render_template(app_id, key, secret)
    try:
        # 0o600 from the start: the file holds a secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    typer.echo(f"wrote {path} (app id {app_id}, key {key})")
    typer.echo("next: `tidings serve` (it reads ./tidings.toml) or `tidings snippet js`")


def register(app: typer.Typer) -> None:
    """Add ``init`` to ``app``."""
    app.command()(init)
