"""``tidings apps import soketi SOURCE`` and ``tidings apps import reverb FILE``.

Reads the apps (:mod:`tidings.apps.import_sources`), maps them
(:mod:`tidings.apps.importing`), checks every one against the configuration,
the database and each other, prints a table of what is imported and what could
not be mapped, and writes them all in one transaction: on any refusal nothing
is written. ``--dry-run`` stops before the write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tidings.cli.common import ConfigOption, fail, user_errors

if TYPE_CHECKING:
    from tidings.apps.importing import Imported

__all__ = ["import_app"]

import_app = typer.Typer(
    help="Import apps from Soketi or Laravel Reverb into the app database.", no_args_is_help=True
)

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Check and print what would be imported; write nothing.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
_SHOWN_VALUE = 60  # characters of an unmapped value printed in the table


@import_app.command("soketi")
def soketi(
    source: Annotated[
        str,
        typer.Argument(
            help="Soketi's app manager database (mysql://user:pass@host/db, "
            "postgresql://…), its JSON config file (appManager.array.apps) or its .env "
            "(SOKETI_DEFAULT_APP_*).",
            show_default=False,
        ),
    ],
    table: Annotated[
        str, typer.Option(help="The app manager's table (APP_MANAGER_MYSQL_TABLE).")
    ] = "apps",
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Import Soketi's apps (webhooks included) from its database or config file."""
    from tidings.apps.import_soketi import from_soketi
    from tidings.apps.import_sources import read_soketi_apps

    with user_errors():
        rows = read_soketi_apps(source, table=table)
    _import(source, [from_soketi(row) for row in rows], dry_run, as_json, config)


@import_app.command("reverb")
def reverb(
    file: Annotated[
        Path,
        typer.Argument(
            help="The Laravel app's .env (REVERB_APP_ID, REVERB_APP_KEY, REVERB_APP_SECRET) "
            "or config('reverb.apps') as JSON.",
            show_default=False,
        ),
    ],
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Import Laravel Reverb's apps from a .env file or its config as JSON."""
    from tidings.apps.import_reverb import from_reverb
    from tidings.apps.import_sources import read_reverb_apps

    with user_errors():
        apps = read_reverb_apps(file)
    _import(str(file), [from_reverb(app) for app in apps], dry_run, as_json, config)


def _import(
    source: str, mapped: list[Imported], dry_run: bool, as_json: bool, config: Path | None
) -> None:
    from tidings.apps.urls import masked_url
    from tidings.cli.apps import open_manager

    shown = masked_url(source)
    if not mapped:
        fail(f"no apps in {shown}", hint="nothing to import")
    with open_manager(config) as manager, user_errors():
        importable = [m for m in mapped if m.problem is None]
        checked: Iterator[str | None] = iter(manager.check_import([m.values for m in importable]))
        refusals = [m.problem if m.problem is not None else next(checked) for m in mapped]
        refused = sum(problem is not None for problem in refusals)
        if not refused and not dry_run:
            manager.import_apps([m.values for m in mapped])
    written = not refused and not dry_run
    if as_json:
        typer.echo(json.dumps(_report(mapped, refusals, dry_run, written), indent=2, default=str))
    else:
        _print_table(shown, mapped, refusals, dry_run, written)
    if refused:
        fail(
            f"nothing imported: {refused} of {len(mapped)} app(s) refused",
            hint="fix or remove them in the source (or the clashing apps here) and run it again",
        )


def _result(problem: str | None, dry_run: bool, written: bool) -> str:
    if problem is not None:
        return f"refused: {problem}"
    if written:
        return "imported"
    return "would be imported" if dry_run else "ok, not written (another app was refused)"


def _report(
    mapped: Sequence[Imported], refusals: Sequence[str | None], dry_run: bool, written: bool
) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "written": written,
        "apps": [
            {
                "id": m.values.get("id"),
                "key": m.values.get("key"),
                "webhooks": len(m.values.get("webhooks") or []),
                "result": "refused" if problem else ("imported" if written else "checked"),
                **({"reason": problem} if problem else {}),
            }
            for m, problem in zip(mapped, refusals, strict=True)
        ],
        "unmapped": [
            {"app": m.label, "field": u.field, "value": u.value, "reason": u.reason}
            for m in mapped
            for u in m.unmapped
        ],
        "notes": [{"app": m.label, "note": note} for m in mapped for note in m.notes],
    }


def _print_table(
    source: str,
    mapped: Sequence[Imported],
    refusals: Sequence[str | None],
    dry_run: bool,
    written: bool,
) -> None:
    rows = [("APP", "KEY", "WEBHOOKS", "RESULT")]
    for m, problem in zip(mapped, refusals, strict=True):
        hooks = str(len(m.values.get("webhooks") or []))
        rows.append(
            (m.label, str(m.values.get("key", "?")), hooks, _result(problem, dry_run, written))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    typer.echo(f"source: {source}")
    for row in rows:
        typer.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[3]]))
    lost = [
        (m.label, f"{u.field} = {_short(u.value)}: {u.reason}") for m in mapped for u in m.unmapped
    ]
    _print_list("not mapped (left out):", lost)
    _print_list("notes:", [(m.label, note) for m in mapped for note in m.notes])
    if written:
        typer.echo(f"imported {len(mapped)} app(s); running nodes serve them within seconds")
    elif dry_run and not any(refusals):
        typer.echo(f"dry run: {len(mapped)} app(s) can be imported; nothing written")


def _print_list(title: str, lines: list[tuple[str, str]]) -> None:
    if not lines:
        return
    width = max(len(app) for app, _ in lines)
    typer.echo(title)
    for app, text in lines:
        typer.echo(f"  {app:<{width}}  {text}")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."
