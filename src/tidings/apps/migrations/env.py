"""Alembic's entry point: migrate the connection :mod:`tidings.apps.migrate` hands over.

``tidings.apps.migrate`` opens the connection (and, on PostgreSQL, takes an
advisory lock so that nodes starting together migrate one at a time); this file
only runs the migrations on it, inside its transaction.
"""

from __future__ import annotations

from alembic import context

from tidings.apps.schema import METADATA

VERSION_TABLE = "tidings_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most columns in place: batch mode copies the table.
    render_as_batch=True,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
