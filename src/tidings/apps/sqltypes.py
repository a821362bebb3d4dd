"""Column types and server defaults that SQLite, PostgreSQL and MySQL/MariaDB all accept.

Three MySQL rules shape them (SQLite and PostgreSQL are indifferent):

* A ``TEXT`` column cannot be a primary key or unique without a prefix length,
  so ids and keys are ``VARCHAR(255)`` there (Soketi's width; ids and keys are
  at most 64 characters anyway), compared byte for byte (``utf8mb4_bin``) as
  on the others: the default collation would make ``App-Key`` clash with ``app-key``.
* ``FLOAT`` is single precision on MySQL: a Unix time in it is off by up to a
  minute, so times are ``DOUBLE`` there (``FLOAT`` is already 8 bytes elsewhere).
* MySQL 8 refuses a literal default on ``TEXT`` and ``JSON`` columns but takes
  an expression in parentheses (``DEFAULT ('[]')``), which the three others
  accept too; so text and JSON defaults are written in parentheses everywhere.

The migrations spell the same types out (they are frozen), and
``tests/contract/test_app_store.py`` checks each database against the metadata.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["MYSQL_DIALECTS", "identity_type", "text_default", "time_type"]

#: SQLAlchemy's names for the MySQL family (``mysql+pymysql`` reports "mysql"
#: even against MariaDB; a ``mariadb+...`` URL reports "mariadb").
MYSQL_DIALECTS = ("mysql", "mariadb")


def identity_type() -> sa.types.TypeEngine[Any]:
    """An indexed string (app id, key): ``TEXT``, a case-sensitive ``VARCHAR(255)`` on MySQL."""
    return sa.Text().with_variant(sa.String(255, collation="utf8mb4_bin"), *MYSQL_DIALECTS)


def time_type() -> sa.types.TypeEngine[Any]:
    """Unix seconds with sub-second precision: ``FLOAT``, ``DOUBLE`` on MySQL."""
    return sa.Float().with_variant(sa.Double(), *MYSQL_DIALECTS)


def text_default(literal: str) -> sa.TextClause:
    """The server default of a text or JSON column holding ``literal`` (SQL-quoted)."""
    quoted = literal.replace("'", "''")
    return sa.text(f"('{quoted}')")
