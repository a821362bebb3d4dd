"""The app database: SQLite (embedded, the default), PostgreSQL or MySQL/MariaDB (clusters).

SQLAlchemy 2 Core does the SQL for all three (no ORM: rows are plain dicts of App
field values); Alembic migrates the schema on open. Every method is one
transaction and synchronous: the CLI calls them directly, the server through
``asyncio.to_thread`` (they are off the hot path, which reads memory only).
Each write also increments the revision counter, in the same transaction, so a
reader that sees a new revision sees the complete write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tidings.apps.migrate import upgrade
from tidings.apps.schema import APPS, REVISION
from tidings.apps.urls import SCHEMES, masked_url
from tidings.errors import ConfigError, ConflictError, NotFoundError, UnavailableError

__all__ = ["SCHEMES", "AppDatabase", "engine_for", "masked_url"]


def engine_for(url: str) -> sa.Engine:
    """An engine for a ``sqlite:///path``, ``postgresql://user@host/db`` or
    ``mysql://user:pass@host/db`` (also ``mariadb://``) URL.

    PostgreSQL goes through psycopg 3, MySQL and MariaDB through PyMySQL: both
    synchronous, as every method here is (the server calls them in a thread).

    Raises:
        ConfigError: another scheme.
    """
    if url.startswith(("mysql://", "mariadb://")):
        rest = url.split("://", 1)[1]
        query = "" if "charset=" in rest else ("&" if "?" in rest else "?") + "charset=utf8mb4"
        return sa.create_engine(
            # "mysql" for both: SQLAlchemy tells MariaDB apart by itself.
            f"mysql+pymysql://{rest}{query}",
            pool_pre_ping=True,
            # MySQL closes connections idle for wait_timeout (8 h by default).
            pool_recycle=3600,
            pool_size=2,
            max_overflow=2,
            connect_args={"connect_timeout": 5},
        )
    if url.startswith(("postgresql://", "postgres://")):
        rest = url.split("://", 1)[1]
        return sa.create_engine(
            f"postgresql+psycopg://{rest}",
            pool_pre_ping=True,  # a restarted server's dead connections are replaced
            pool_size=2,
            max_overflow=2,
            connect_args={"connect_timeout": 5},
        )
    if url.startswith("sqlite://"):
        engine = sa.create_engine(url, connect_args={"timeout": 5})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    raise ConfigError(
        f"unsupported database URL {masked_url(url)!r}",
        hint="use sqlite:///path/to/tidings.sqlite3, postgresql://user@host:5432/db "
        "or mysql://user:password@host:3306/db",
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event open transactions (pysqlite's own implicit
    # BEGIN skips DDL); WAL lets the server read while the CLI writes.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _sqlite_begin(connection: sa.Connection) -> None:
    # IMMEDIATE takes the write lock up front: two writers queue (busy timeout)
    # instead of failing when a read transaction tries to become a write one.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class AppDatabase:
    """Database apps as rows: ``{field: value}`` for every App field, plus timestamps.

    Args:
        url: ``sqlite:///path``, ``postgresql://...``, ``mysql://...`` or ``mariadb://...``.

    Every method raises :class:`UnavailableError` when the database cannot be reached.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = engine_for(url)

    @classmethod
    def open(cls, url: str) -> AppDatabase:
        """Connect and apply pending migrations.

        Raises:
            UnavailableError: the database cannot be reached or migrated.
            ConfigError: an unsupported URL.
        """
        database = cls(url)
        try:
            with database._errors():
                upgrade(database._engine)
        except BaseException:
            database.close()
            raise
        return database

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.IntegrityError as exc:
            raise ConflictError(f"the app database refused the write: {exc.orig}") from None
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DBAPIError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise UnavailableError(
                f"the app database {masked_url(self.url)} is unreachable: {reason}",
                hint="check database_url (TIDINGS_DATABASE_URL) and that the database is up",
            ) from None

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        with self._errors(), self._engine.begin() as connection:
            yield connection

    # -- reads -----------------------------------------------------------------

    def revision(self) -> int:
        """The change counter: it grows with every committed write."""
        with self._transaction() as connection:
            return int(connection.execute(sa.select(REVISION.c.revision)).scalar_one())

    def load(self) -> tuple[int, list[dict[str, Any]]]:
        """The revision and every row, read in one transaction (a consistent pair)."""
        with self._transaction() as connection:
            revision = int(connection.execute(sa.select(REVISION.c.revision)).scalar_one())
            rows = connection.execute(sa.select(APPS).order_by(APPS.c.created_at, APPS.c.id))
            return revision, [dict(row._mapping) for row in rows]

    def get(self, app_id: str) -> dict[str, Any] | None:
        """The row of ``app_id``, or ``None``."""
        with self._transaction() as connection:
            row = connection.execute(sa.select(APPS).where(APPS.c.id == app_id)).first()
            return None if row is None else dict(row._mapping)

    # -- writes ----------------------------------------------------------------

    def insert(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Add an app; the stored row is returned.

        Raises:
            ConflictError: a database app already has this id or key.
        """
        return self.insert_many([values])[0]

    def insert_many(self, apps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Add several apps in one transaction (all or none); the stored rows are returned.

        Raises:
            ConflictError: a database app (or an earlier one of ``apps``) has the id or
                key of one of them; nothing is written.
        """
        now = time.time()
        rows = [{**values, "created_at": now, "updated_at": now} for values in apps]
        with self._transaction() as connection:
            for values in rows:
                clash = connection.execute(
                    sa.select(APPS.c.id, APPS.c.key).where(
                        (APPS.c.id == values["id"]) | (APPS.c.key == values["key"])
                    )
                ).first()
                if clash is not None:
                    what = "id" if clash.id == values["id"] else "key"
                    raise ConflictError(
                        f"an app with the {what} {values[what]!r} exists",
                        hint=f"app {what}s are unique; choose another or leave it out to "
                        "generate one",
                    )
                connection.execute(sa.insert(APPS).values(values))
            self._bump(connection)
        return rows

    def update(self, app_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some fields of an app; the stored row is returned.

        Raises:
            NotFoundError: no database app has this id.
        """
        with self._transaction() as connection:
            result = connection.execute(
                sa.update(APPS)
                .where(APPS.c.id == app_id)
                .values({**changes, "updated_at": time.time()})
            )
            if result.rowcount == 0:
                raise _not_found(app_id)
            self._bump(connection)
            row = connection.execute(sa.select(APPS).where(APPS.c.id == app_id)).one()
            return dict(row._mapping)

    def delete(self, app_id: str) -> None:
        """Remove an app.

        Raises:
            NotFoundError: no database app has this id.
        """
        with self._transaction() as connection:
            result = connection.execute(sa.delete(APPS).where(APPS.c.id == app_id))
            if result.rowcount == 0:
                raise _not_found(app_id)
            self._bump(connection)

    @staticmethod
    def _bump(connection: sa.Connection) -> None:
        connection.execute(
            sa.update(REVISION).where(REVISION.c.id == 1).values(revision=REVISION.c.revision + 1)
        )


def _not_found(app_id: str) -> NotFoundError:
    return NotFoundError(f"no app has the id {app_id!r}", hint="`tidings apps list` shows them")
