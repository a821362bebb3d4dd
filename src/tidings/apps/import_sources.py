"""Where Soketi and Reverb keep their apps, read as plain mappings (the I/O of an import).

Each reader returns the source's apps as they are stored, for
:mod:`tidings.apps.importing` to map; each failure is an :class:`ImportSourceError`
naming the source and the fix. Nothing here writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tidings.apps.import_reverb import reverb_app_from_env, reverb_apps_from_config
from tidings.apps.import_soketi import soketi_app_from_env
from tidings.apps.import_soketi import soketi_apps_from_config as _soketi_apps_from_config
from tidings.apps.urls import masked_url
from tidings.errors import TidingsError

__all__ = [
    "ImportSourceError",
    "read_env_file",
    "read_reverb_apps",
    "read_soketi_apps",
]

_SQL_SCHEMES = ("mysql://", "mariadb://", "postgresql://", "postgres://")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ImportSourceError(TidingsError):
    """The apps to import cannot be read (a missing file, bad JSON, an unreachable database)."""


def read_soketi_apps(source: str, *, table: str = "apps") -> list[Mapping[str, Any]]:
    """The apps of Soketi's MySQL/PostgreSQL app manager (a URL), of its JSON config file, or
    the default app of its ``.env`` (``SOKETI_DEFAULT_APP_*``).

    Args:
        source: ``mysql://…``, ``mariadb://…``, ``postgresql://…``, or a path to
            ``config.json`` or a ``.env`` file.
        table: the app manager's table (Soketi's ``APP_MANAGER_MYSQL_TABLE`` /
            ``APP_MANAGER_POSTGRES_TABLE``; ``apps`` by default).

    Raises:
        ImportSourceError: unreadable source, or no apps in it.
    """
    if source.startswith(_SQL_SCHEMES):
        return _sql_rows(source, table)
    path = Path(source)
    if not _read(path).lstrip().startswith("{"):  # a .env with SOKETI_DEFAULT_APP_*
        app = soketi_app_from_env(read_env_file(path))
        if app is None:
            raise ImportSourceError(
                f"{source} is neither a Soketi config file (JSON) nor a .env with "
                "SOKETI_DEFAULT_APP_* variables",
                hint="give Soketi's config.json, its .env, or the app manager's database URL",
            )
        return [app]
    data = _json_file(path)
    if not isinstance(data, Mapping):
        raise ImportSourceError(
            f"{source} is not a Soketi config file (a JSON object)",
            hint="give the file passed to `soketi start --config=…`, or a mysql:// or "
            "postgresql:// URL of the app manager's database",
        )
    try:
        return _soketi_apps_from_config(data)
    except ValueError as exc:
        raise ImportSourceError(f"{source}: {exc}") from None


def read_reverb_apps(path: Path) -> list[Mapping[str, Any]]:
    """Reverb's apps from a Laravel ``.env`` (``REVERB_APP_*``) or ``config('reverb.apps')``
    as JSON (``php artisan tinker --execute 'echo json_encode(config("reverb.apps"))'``).

    Raises:
        ImportSourceError: unreadable file, or no Reverb app in it.
    """
    text = _read(path)
    try:
        if text.lstrip().startswith(("{", "[")):
            return reverb_apps_from_config(_json(path, text))
        return [reverb_app_from_env(read_env_file(path))]
    except ValueError as exc:
        raise ImportSourceError(f"{path}: {exc}") from None


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a ``.env`` file sets (``export``, quotes and ``${VAR}`` handled), as
    Laravel and Soketi read it (both use dotenv).

    Raises:
        ImportSourceError: the file cannot be read.
    """
    from dotenv import dotenv_values

    _read(path)  # a clear error for a missing or unreadable file
    return {name: value for name, value in dotenv_values(path).items() if value is not None}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportSourceError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"cannot read {path}: {exc}") from None


def _json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ImportSourceError(f"{path} is not valid JSON: {exc}") from None


def _json_file(path: Path) -> Any:
    return _json(path, _read(path))


def _sql_rows(url: str, table: str) -> list[Mapping[str, Any]]:
    """Every row of Soketi's apps table, as ``{column: value}``."""
    import sqlalchemy as sa

    from tidings.apps.database import engine_for

    if not _TABLE_NAME.match(table):
        raise ImportSourceError(f"{table!r} is not a table name", hint="letters, digits and _")
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            apps = sa.Table(table, sa.MetaData(), autoload_with=connection)
            rows = connection.execute(sa.select(apps))
            return [dict(row._mapping) for row in rows]
    except sa.exc.NoSuchTableError:
        raise ImportSourceError(
            f"no table {table!r} in {masked_url(url)}",
            hint="pass --table with Soketi's APP_MANAGER_MYSQL_TABLE / APP_MANAGER_POSTGRES_TABLE",
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = str(orig or exc).strip().splitlines()[0]
        raise ImportSourceError(
            f"cannot read Soketi's apps from {masked_url(url)}: {reason}",
            hint="check the URL (user, password, host, database) and that the database is up",
        ) from None
    finally:
        engine.dispose()
