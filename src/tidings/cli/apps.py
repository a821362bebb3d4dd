"""``tidings apps list|create|show|update|rotate-secret|disable|enable|delete`` (and
``import``, in :mod:`tidings.cli.apps_import`).

They work on the app database of ``database_url`` directly, with or without a
running server; running nodes pick the change up within
``database_poll_interval`` (a disabled or deleted app's connections are closed
with 4003). Apps of the configuration are listed too, marked read-only.

The setting flags of ``create`` and ``update`` are derived from App's fields
(``--max-connections``, ``--enable-client-messages/--no-…``, ``--allowed-origins``
repeated, ...), so every setting has its flag without being listed here.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tidings.apps.base import App, AppField, Role, app_fields
from tidings.cli.common import ConfigOption, fail, load_settings, user_errors

if TYPE_CHECKING:
    from tidings.apps.manage import AppManager, Source

__all__ = ["open_manager", "register"]

apps_app = typer.Typer(help="Create, change and delete apps (tenants) in the app database.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArgument = Annotated[str, typer.Argument(help="The app id.", show_default=False)]


@contextmanager
def open_manager(config: Any) -> Iterator[AppManager]:
    """The app manager of the configuration's database, closed on exit (errors: one line)."""
    # Imported here: every `tidings` command loads this module, only these need SQLAlchemy.
    from tidings.apps.database import AppDatabase
    from tidings.apps.manage import AppManager

    settings = load_settings(config)
    if not settings.database_url:
        fail("database_url is empty: apps come from the configuration only")
    with user_errors():
        database = AppDatabase.open(settings.database_url)
        try:
            yield AppManager(database, settings.app_list(), settings.inherited())
        finally:
            database.close()


def _print(app: App, source: Source, *, as_json: bool, show_secret: bool) -> None:
    from tidings.apps.manage import app_view

    view = app_view(app, source=source, show_secret=show_secret)
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    width = max(len(name) for name in view)
    for name, value in view.items():
        shown = json.dumps(value) if isinstance(value, list | bool) or value is None else value
        typer.echo(f"{name:<{width}}  {shown}")


# -- flags derived from App -------------------------------------------------------------


def _flag(f: AppField) -> inspect.Parameter:
    dash = f.name.replace("_", "-")
    kind: Any = f.type
    if f.setting.parse is not None:  # webhooks: --webhook URL (or a JSON table), repeated
        option = typer.Option(
            f"--{dash.removesuffix('s')}",
            help=f"{f.setting.help} Give a URL or a JSON table; repeat for several.",
        )
        kind = list[str] | None
    elif f.type is bool:
        option = typer.Option(f"--{dash}/--no-{dash}", help=f.setting.help, show_default=False)
        kind = bool | None
    elif f.type == tuple[str, ...]:
        option = typer.Option(f"--{dash}", help=f"{f.setting.help} (repeat for several)")
        kind = list[str] | None
    else:
        option = typer.Option(f"--{dash}", help=f.setting.help, show_default=False)
        base = int if "int" in str(f.type) else str
        kind = base | None
    return inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option]
    )


def _with_flags(
    roles: set[Role], leading: list[inspect.Parameter]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give ``command`` one flag per App field of ``roles``, after ``leading`` parameters."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        flags = [_flag(f) for f in app_fields() if f.setting.role in roles]
        command.__signature__ = inspect.Signature([*leading, *flags])  # type: ignore[attr-defined]
        return command

    return decorate


def _given(values: dict[str, Any]) -> dict[str, Any]:
    given = {}
    for f in app_fields():
        value = values.get(f.name)
        if value is None:
            continue
        if f.setting.parse is not None:  # each item: a URL, or a JSON table
            value = [_table_or_url(f.name, item) for item in value]
        given[f.name] = value
    return given


def _table_or_url(name: str, text: str) -> Any:
    if not text.lstrip().startswith("{"):
        return {"url": text}
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"--{name.removesuffix('s')} {text!r} is not valid JSON ({exc})", hint="or give a URL")


def _param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_CONFIG = _param("config", ConfigOption, None)
_JSON = _param("as_json", JsonOption, False)
_ID = _param("app_id", IdArgument)
_INHERIT = _param(
    "inherit",
    Annotated[
        list[str] | None,
        typer.Option(help="A limit to reset to the global value (repeat for several)."),
    ],
    None,
)

# -- commands ---------------------------------------------------------------------------


@apps_app.command("list")
def list_apps(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List config and database apps (config ones are read-only)."""
    with open_manager(config) as manager, user_errors():
        apps = manager.list()
    if as_json:
        from tidings.apps.manage import app_view

        typer.echo(json.dumps([app_view(app, source=src) for app, src in apps], indent=2))
        return
    rows = [("ID", "KEY", "NAME", "ENABLED", "SOURCE")]
    for app, source in apps:
        where = "config (read-only)" if source == "config" else "database"
        rows.append((app.id, app.key, app.name, "yes" if app.enabled else "no", where))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[4]]))


@apps_app.command("create")
@_with_flags({Role.IDENTITY, Role.SECRET, Role.SETTING}, [_CONFIG, _JSON])
def create(**values: Any) -> None:
    """Create an app; the id, key and secret not given are generated and printed once."""
    with open_manager(values["config"]) as manager, user_errors():
        app = manager.create(_given(values))
    _print(app, "database", as_json=values["as_json"], show_secret=True)
    if not values["as_json"]:
        typer.echo(
            "note: keep the secret now; `tidings apps show ID --show-secret` shows it", err=True
        )


@apps_app.command("show")
def show(
    app_id: IdArgument,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    show_secret: Annotated[bool, typer.Option(help="Print the secret too.")] = False,
) -> None:
    """Show one app (the secret only with --show-secret)."""
    with open_manager(config) as manager, user_errors():
        app, source = manager.get(app_id)
    _print(app, source, as_json=as_json, show_secret=show_secret)


@apps_app.command("update")
@_with_flags({Role.SETTING}, [_ID, _CONFIG, _JSON, _INHERIT])
def update(**values: Any) -> None:
    """Change settings of a database app (running nodes apply it within seconds)."""
    changes = _given(values)
    limits = {f.name for f in app_fields() if f.setting.inherits}
    for name in values["inherit"] or []:
        name = name.replace("-", "_")
        if name not in limits:
            fail(f"--inherit {name}: not a limit", hint=f"one of {', '.join(sorted(limits))}")
        changes[name] = None
    with open_manager(values["config"]) as manager, user_errors():
        app = manager.update(values["app_id"], changes)
    _print(app, "database", as_json=values["as_json"], show_secret=False)


@apps_app.command("rotate-secret")
def rotate_secret(
    app_id: IdArgument,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds the old secret keeps verifying.")
    ] = 0.0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give an app a new secret; the old one stops verifying at once, or after --grace."""
    with open_manager(config) as manager, user_errors():
        app = manager.rotate_secret(app_id, grace)
    _print(app, "database", as_json=as_json, show_secret=True)


def _set_enabled(app_id: str, enabled: bool, config: Any, as_json: bool) -> None:
    with open_manager(config) as manager, user_errors():
        app = manager.set_enabled(app_id, enabled)
    _print(app, "database", as_json=as_json, show_secret=False)


@apps_app.command("disable")
def disable(app_id: IdArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Disable an app: its connections are closed (4003) and new ones refused."""
    _set_enabled(app_id, False, config, as_json)


@apps_app.command("enable")
def enable(app_id: IdArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Enable a disabled app again."""
    _set_enabled(app_id, True, config, as_json)


@apps_app.command("delete")
def delete(
    app_id: IdArgument,
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete an app: its connections are closed (4003); its key is then unknown (4001)."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"deleting app {app_id} cannot be undone", hint="pass --yes to confirm")
        typer.confirm(f"Delete app {app_id} and close its connections?", abort=True)
    with open_manager(config) as manager, user_errors():
        manager.delete(app_id)
    typer.echo(json.dumps({"deleted": app_id}) if as_json else f"deleted app {app_id}")


def register(app: typer.Typer) -> None:
    """Add the ``apps`` group to ``app``."""
    from tidings.cli.apps_import import import_app

    apps_app.add_typer(import_app, name="import")
    app.add_typer(apps_app, name="apps")
