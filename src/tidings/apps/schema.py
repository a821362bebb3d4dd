"""The database tables of the app store, derived from :class:`tidings.apps.base.App`.

One column per App field, typed from the field's annotation: ``str`` → TEXT,
``bool`` → BOOLEAN, ``int`` → INTEGER, ``float`` → FLOAT, ``tuple[str, ...]`` →
JSON, with the MySQL variants of :mod:`tidings.apps.sqltypes` (ids and keys
VARCHAR, times DOUBLE); ``X | None`` and inherited limits are nullable (NULL =
inherit the node's global value). Non-null columns carry the field default as a
server default, so a migration that adds a setting fills the rows that already
exist.

Migrations (``tidings/apps/migrations``) are frozen copies of what this module
derived when they were written; ``tests/contract/test_app_store.py`` checks that
the migrated database matches this metadata, so a new field without its
migration fails the suite (``alembic revision --autogenerate`` writes it).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import sqlalchemy as sa

from tidings.apps.base import AppField, Role, app_fields
from tidings.apps.sqltypes import identity_type, text_default, time_type

__all__ = ["APPS", "METADATA", "REVISION", "column_for"]

METADATA = sa.MetaData()


def _column_type(kind: Any) -> tuple[sa.types.TypeEngine[Any], bool]:
    """The SQL type of an annotation, and whether it admits ``None``."""
    nullable = False
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        kind, nullable = args[0], True
    kind = getattr(kind, "__supertype__", kind)  # a NewType such as AppId
    if kind is bool:
        return sa.Boolean(), nullable
    if kind is int:
        return sa.Integer(), nullable
    if kind is float:
        return time_type(), nullable
    if kind is str:
        return sa.Text(), nullable
    if typing.get_origin(kind) is tuple:
        return sa.JSON(), nullable
    raise TypeError(f"no column type for {kind!r}")  # pragma: no cover - a new kind of field


def _server_default(value: Any) -> sa.TextClause | None:
    if isinstance(value, bool):
        return sa.text("true" if value else "false")
    if isinstance(value, int | float):
        return sa.text(str(value))
    if isinstance(value, str):
        return text_default(value)
    if isinstance(value, tuple):
        return text_default("[]")
    return None


def column_for(f: AppField) -> sa.Column[Any]:
    """The column that stores App field ``f``."""
    kind, nullable = _column_type(f.type)
    if f.setting.role is Role.IDENTITY:
        kind = identity_type()  # indexed: MySQL needs a bounded VARCHAR
    nullable = nullable or f.setting.inherits
    default = None if (nullable or f.required) else _server_default(f.default)
    return sa.Column(
        f.name,
        kind,
        primary_key=f.name == "id",
        unique=f.name == "key",
        nullable=nullable,
        server_default=default,
    )


#: One row per database app.
APPS = sa.Table(
    "tidings_apps",
    METADATA,
    *(column_for(f) for f in app_fields()),
    sa.Column("created_at", time_type(), nullable=False),
    sa.Column("updated_at", time_type(), nullable=False),
)

#: One row: a counter every write transaction increments, so a node notices
#: any change (its own, another node's, the CLI's) with one cheap read.
REVISION = sa.Table(
    "tidings_app_revision",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger(), nullable=False),
)
